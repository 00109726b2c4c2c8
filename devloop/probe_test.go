package main

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

type probeResult struct {
	arrive  bool
	changed string
	err     error
}

func TestProbeFileEventsArriveOnAnOrdinaryDirectory(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "sub", "handlers.go")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan probeResult, 1)
	go func() {
		arrive, changed, err := eventsArrive(t.Context(), root, 20*time.Millisecond)
		got <- probeResult{arrive, changed, err}
	}()
	time.Sleep(100 * time.Millisecond) // the watches are in place
	if err := os.WriteFile(file, []byte("package main // saved\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || !r.arrive || r.changed != file {
		t.Fatalf("eventsArrive = %v %q %v; want true, %s", r.arrive, r.changed, r.err, file)
	}
}

// A mount that sends no events is one where a change shows up in the files
// but no event announces it: settle is given an announcer that never
// hears one.
func TestProbeAChangeWithNoEventMeansNoEvents(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "handlers.go")
	if err := os.WriteFile(file, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := snapshot(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	var silent atomic.Bool
	got := make(chan probeResult, 1)
	go func() {
		arrive, changed, err := settle(t.Context(), root, 20*time.Millisecond, before, &silent)
		got <- probeResult{arrive, changed, err}
	}()
	time.Sleep(60 * time.Millisecond) // a few looks with nothing changed
	select {
	case r := <-got:
		t.Fatalf("settled with no change: %+v", r)
	default:
	}
	if err := os.WriteFile(file, []byte("package main // saved, unannounced\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.arrive || r.changed != file {
		t.Fatalf("settle = %v %q %v; want false, %s", r.arrive, r.changed, r.err, file)
	}
}

func TestProbeStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan probeResult, 1)
	go func() {
		arrive, changed, err := eventsArrive(ctx, t.TempDir(), 10*time.Millisecond)
		got <- probeResult{arrive, changed, err}
	}()
	cancel()
	select {
	case r := <-got:
		if r.arrive || r.changed != "" || r.err != nil {
			t.Fatalf("after cancel: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("eventsArrive did not return when its context ended")
	}
}

func TestFirstChangeSeesCreatedChangedAndRemovedFiles(t *testing.T) {
	at := time.Unix(1, 0)
	base := map[string]fileState{"a": {1, at}, "b": {1, at}}
	for _, tc := range []struct {
		name string
		now  map[string]fileState
		want string
	}{
		{"nothing", map[string]fileState{"a": {1, at}, "b": {1, at}}, ""},
		{"size", map[string]fileState{"a": {2, at}, "b": {1, at}}, "a"},
		{"time", map[string]fileState{"a": {1, at}, "b": {1, at.Add(time.Nanosecond)}}, "b"},
		{"created", map[string]fileState{"a": {1, at}, "b": {1, at}, "c": {0, at}}, "c"},
		{"removed", map[string]fileState{"a": {1, at}}, "b"},
	} {
		if got := firstChange(base, tc.now); got != tc.want {
			t.Errorf("%s: firstChange = %q, want %q", tc.name, got, tc.want)
		}
	}
}
