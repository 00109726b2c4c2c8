package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A directory created under the watched tree, with a file written into it
// at once, asks for a build, as does one created later inside it; a new
// file in an existing directory does not (air has that one), nor a save in
// a new directory once its build was asked for, nor test data or a hidden
// directory; a checkout that creates many directories asks for one build.
func TestWatchNewDirs(t *testing.T) {
	root := t.TempDir()
	mkdir := func(dir string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(file string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, file), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mkdir("old")
	changes := make(chan struct{}, 1)
	if err := watchNewDirs(t.Context(), root, changes); err != nil {
		t.Fatal(err)
	}
	built := func(after string) {
		t.Helper()
		select {
		case <-changes:
		case <-time.After(10 * time.Second):
			t.Fatalf("no build asked for after %s", after)
		}
	}
	notBuilt := func(after string) {
		t.Helper()
		select {
		case <-changes:
			t.Fatalf("a build asked for after %s: that is air's", after)
		case <-time.After(10 * newDirSettle):
		}
	}

	write("old/page.html")
	notBuilt("a file written in an existing directory")
	for _, dir := range []string{"testdata/golden", ".cache/x"} {
		mkdir(dir)
		write(dir + "/page.html")
		notBuilt(dir + ", which no build reads, was created")
	}

	for _, dir := range []string{"templates", "old/deeper/still", "templates/partials"} {
		mkdir(dir)
		write(dir + "/hello.html")
		built(dir + " was created")
	}
	write("templates/partials/hello.html")
	notBuilt("a save in a directory whose build was asked for")

	for i := range 20 {
		dir := fmt.Sprintf("checkout/dir%d", i)
		mkdir(dir)
		write(dir + "/page.html")
	}
	built("a checkout of 20 new directories")
	notBuilt("the checkout's build was asked for")
}
