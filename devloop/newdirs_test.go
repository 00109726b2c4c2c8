package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A directory created under the watched tree, with a file written into it
// at once, asks for a build; a new file in an existing directory does not
// (air has that one).
func TestWatchNewDirs(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	changes := make(chan struct{}, 1)
	if err := watchNewDirs(t.Context(), root, changes); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(root, "old", "page.html"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
		t.Fatal("a file in an existing directory asked for a build: that is air's")
	case <-time.After(10 * newDirSettle):
	}

	for _, dir := range []string{filepath.Join(root, "templates"), filepath.Join(root, "old", "deeper", "still")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hello.html"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changes:
		case <-time.After(10 * time.Second):
			t.Fatalf("no build asked for after %s was created", dir)
		}
	}
}
