package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A module file written in place (as the go command does) is not reported;
// one replaced by a new file (as git does) is, once, with what to do.
func TestWatchModuleFiles(t *testing.T) {
	dir := t.TempDir()
	goMod, goSum := filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum")
	for _, f := range []string{goMod, goSum} {
		if err := os.WriteFile(f, []byte("module example.com/m\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var log syncBuffer
	watchModuleFiles(t.Context(), []string{goMod, goSum}, slog.New(slog.NewTextHandler(&log, nil)))

	// In place: the same file, truncated and rewritten.
	if err := os.WriteFile(goMod, []byte("module example.com/m\n\nrequire example.com/x v1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Replaced: a new file renamed over it, then unlinked and created anew.
	if err := os.WriteFile(goSum+".tmp", []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(goSum+".tmp", goSum); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "was replaced on the host") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning after go.sum was replaced; log:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Its events come in order: go.mod's write in place came first.
	if strings.Contains(log.String(), "go.mod was replaced") {
		t.Fatalf("go.mod written in place was reported replaced; log:\n%s", log.String())
	}
	if err := os.Remove(goSum); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goSum, []byte("y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(goMod); err != nil { // as git replaces a file
		t.Fatal(err)
	}
	if err := os.WriteFile(goMod, []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "go.mod was replaced") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning after go.mod was replaced; log:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Count(log.String(), "was replaced on the host")
	if lines != 2 || !strings.Contains(log.String(), "docker compose up -d --force-recreate dev") {
		t.Errorf("want one warning per replaced file, saying what to do; log:\n%s", log.String())
	}
}
