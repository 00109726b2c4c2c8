package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSourceVersionSaysWhichFilesChangedSinceTheBuild(t *testing.T) {
	src, file := sourcesOnDisk(t)
	other := filepath.Join(src, "app", "other.go")
	if err := os.WriteFile(other, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v := snapshotSources(src)
	if v.changed(file) || v.changed(other) {
		t.Fatal("a file as the build compiled it counts as changed")
	}
	if err := os.WriteFile(file, []byte("package main\n// edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	added := filepath.Join(src, "app", "added.go")
	if err := os.WriteFile(added, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(other); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, added, other} {
		if !v.changed(path) {
			t.Errorf("%s changed since the build, not seen", filepath.Base(path))
		}
	}
	if v.changed("/usr/local/go/src/net/http/server.go") {
		t.Error("a file outside the watched directory counts as changed")
	}
	if (sourceVersion{}).changed(file) {
		t.Error("with no version known, a file counts as changed")
	}
}
