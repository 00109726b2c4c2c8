package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// air watches a directory created under app/ only once it has heard of it,
// from a goroutine: a file written into it before that watch is in place
// (a new app/templates/ and its first page saved in one go, as editors,
// git and `mkdir -p && cp` do) makes no event, and no build. So devloop
// watches the directories for new ones itself, hears the files written into
// them, and asks for one build once the new directories have been quiet for
// newDirSettle: a checkout that creates many of them, file after file, gets
// one build after its last file, not one per directory, and air's watch, in
// place long before, has every later save. Not 0: the files of one `cp -r`
// or checkout come a few milliseconds apart.
const newDirSettle = 50 * time.Millisecond

// watchNewDirs sends on changes once the directories created under root,
// and the files written into them, have been quiet for newDirSettle, until
// ctx ends. On a mount with no file events it hears nothing; the poller
// lists the directories there (poll.go).
func watchNewDirs(ctx context.Context, root string, changes chan<- struct{}) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	// fresh holds the directories created since the last build asked for:
	// air may not watch them yet, so what is written into them is ours.
	fresh := map[string]bool{}
	watchTree := func(dir string, created bool) {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && path != root && ignoredDir(d.Name()) {
				return filepath.SkipDir
			}
			if err == nil && d.IsDir() {
				_ = watcher.Add(path)
				if created {
					fresh[path] = true
				}
			}
			return nil
		})
	}
	watchTree(root, false)
	go func() {
		defer watcher.Close()
		quiet := time.NewTimer(newDirSettle)
		quiet.Stop()
		defer quiet.Stop()
		var settled <-chan time.Time // nil while nothing new waits for a build
		for {
			select {
			case <-ctx.Done():
				return
			case <-watcher.Errors:
			case e, ok := <-watcher.Events:
				if !ok {
					return
				}
				info, err := os.Stat(e.Name)
				newDir := e.Has(fsnotify.Create) && err == nil && info.IsDir() && !ignoredDir(info.Name())
				if newDir {
					watchTree(e.Name, true) // and what was created inside it before this watch
				}
				if newDir || fresh[filepath.Dir(e.Name)] {
					quiet.Reset(newDirSettle)
					settled = quiet.C
				}
			case <-settled:
				settled = nil
				clear(fresh)
				select {
				case changes <- struct{}{}:
				default: // a reload is pending already
				}
			}
		}
	}()
	return nil
}

// ignoredDir tells whether air skips a directory of this name, and so does
// a build: test data (.air.toml's exclude_dir, go build) and hidden ones
// (an editor's or a tool's, as air's watch skips them).
func ignoredDir(name string) bool {
	return name == "testdata" || strings.HasPrefix(name, ".")
}
