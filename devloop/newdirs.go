package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// air watches a directory created under app/ only once it has heard of it,
// from a goroutine: a file written into it before that watch is in place
// (a new app/templates/ and its first page saved in one go, as editors,
// git and `mkdir -p && cp` do) makes no event, and no build. So devloop
// watches the directories for new ones itself and asks for a build a moment
// after one appears: that build compiles what the new directory holds by
// then, and air's watch, in place by then, has every later save.
const newDirSettle = 50 * time.Millisecond

// watchNewDirs sends on changes, newDirSettle after each directory created
// under root, until ctx ends. On a mount with no file events it hears
// nothing; the poller lists the directories there (poll.go).
func watchNewDirs(ctx context.Context, root string, changes chan<- struct{}) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	watchTree := func(dir string) {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = watcher.Add(path)
			}
			return nil
		})
	}
	watchTree(root)
	go func() {
		defer watcher.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-watcher.Errors:
			case e, ok := <-watcher.Events:
				if !ok {
					return
				}
				if info, err := os.Stat(e.Name); e.Has(fsnotify.Create) && err == nil && info.IsDir() {
					watchTree(e.Name) // a directory created inside it is new too
					time.AfterFunc(newDirSettle, func() {
						select {
						case changes <- struct{}{}:
						default: // a reload is pending already
						}
					})
				}
			}
		}
	}()
	return nil
}
