package main

import (
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
