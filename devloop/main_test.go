package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		check   func(config) bool
		wantErr string
	}{
		{"defaults", nil, func(c config) bool {
			return c.Listen == ":1323" && c.DebugListen == "" && c.Poll == "" && c.Drain == 6*time.Second && c.Dir == "/tmp/devloop"
		}, ""},
		{"the debug service", map[string]string{"DLV_LISTEN": ":2345"}, func(c config) bool { return c.DebugListen == ":2345" }, ""},
		{"the drain follows the app's", map[string]string{"SHUTDOWN_TIMEOUT": "3s"}, func(c config) bool { return c.Drain == 4*time.Second }, ""},
		{"AIR_POLL=true", map[string]string{"AIR_POLL": "true"}, func(c config) bool { return c.Poll == "true" }, ""},
		{"AIR_POLL=false", map[string]string{"AIR_POLL": "false"}, func(c config) bool { return c.Poll == "false" }, ""},
		{"AIR_POLL=yes", map[string]string{"AIR_POLL": "yes"}, nil, `AIR_POLL="yes"`},
		{"a bad SHUTDOWN_TIMEOUT", map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, nil, `SHUTDOWN_TIMEOUT="soon"`},
	} {
		cfg, err := loadConfig(func(k string) string { return tc.env[k] })
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one naming %s", tc.name, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.check(cfg):
			t.Errorf("%s: %+v", tc.name, cfg)
		}
	}
}

// eventually polls cond until it holds; the deadline only bounds a broken
// test. The tests of every file use it.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestWayOutEndsAtOnceOnASecondSignal: the parts of the way out get a ctx
// that a second signal ends; the error says the drain was cut short.
func TestWayOutEndsAtOnceOnASecondSignal(t *testing.T) {
	var log syncBuffer
	signals := make(chan os.Signal, 1)
	stopping := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- wayOut(time.Hour, signals, slog.New(slog.NewTextHandler(&log, nil)), nil, func(ctx context.Context) bool {
			close(stopping)
			<-ctx.Done() // a server that would drain for the whole bound
			return false
		})
	}()
	<-stopping
	signals <- os.Interrupt
	select {
	case err := <-result:
		if err == nil || !strings.Contains(log.String(), "second signal") {
			t.Fatalf("after a second signal: %v; log:\n%s", err, log.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not end the way out")
	}
}

// TestWayOutSaysWhetherTheBoundCame: its last line tells a stop where
// everything ended by itself from one where the bound cut it short.
func TestWayOutSaysWhetherTheBoundCame(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stop  func(context.Context) bool
		bound time.Duration
		want  string
	}{
		{"drained", func(context.Context) bool { return true }, time.Hour, "everything ended by itself"},
		{"killed at its own drain bound", func(context.Context) bool { return false }, time.Hour, "did not drain in its own time"},
		{"cut short", func(ctx context.Context) bool { <-ctx.Done(); return false }, time.Millisecond, "the bound came"},
	} {
		var log syncBuffer
		if err := wayOut(tc.bound, nil, slog.New(slog.NewTextHandler(&log, nil)), nil, tc.stop); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !strings.Contains(log.String(), tc.want) || (tc.want != "everything ended by itself" && strings.Contains(log.String(), "everything ended by itself")) {
			t.Errorf("%s: the last line does not say %q:\n%s", tc.name, tc.want, log.String())
		}
	}
}
