package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// control listens for changes on a socket of its own, as devloop does.
func control(t *testing.T) (path string, changes chan struct{}) {
	path = filepath.Join(t.TempDir(), "control.sock")
	changes, closeControl, err := listenForChanges(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeControl)
	return path, changes
}

func TestNotifyDeliversAChangeAndWaitsToBeStopped(t *testing.T) {
	path, changes := control(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- notify(ctx, path) }()
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("no change arrived")
	}
	select {
	case err := <-done:
		t.Fatalf("notify returned before it was stopped: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel() // air's SIGINT
	if err := <-done; err != nil {
		t.Fatalf("notify after stop: %v", err)
	}
}

func TestNotifySavesWhileBusyFoldIntoOne(t *testing.T) {
	path, changes := control(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // each notify returns once delivered
	for range 3 {
		if err := notify(ctx, path); err != nil {
			t.Fatal(err)
		}
	}
	<-changes
	select {
	case <-changes:
		t.Fatal("three saves while the loop was busy made two changes; want one")
	default:
	}
}

func TestNotifyWithoutDevloopSaysSo(t *testing.T) {
	err := notify(context.Background(), filepath.Join(t.TempDir(), "none.sock"))
	if err == nil {
		t.Fatal("notify with nobody listening succeeded")
	}
}
