package main

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
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

// TestNotifyDeliversAChangeAndWaitsToBeStopped: air expects the program it
// runs to stay until it stops it. synctest.Wait returns once notify blocks
// for good, having delivered its change.
func TestNotifyDeliversAChangeAndWaitsToBeStopped(t *testing.T) {
	path, changes := control(t)
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- notify(ctx, path) }()
		<-changes
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("notify returned before it was stopped: %v", err)
		default:
		}
		cancel() // air's SIGINT
		if err := <-done; err != nil {
			t.Fatalf("notify after stop: %v", err)
		}
	})
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
