package main

import (
	"context"
	"log/slog"
	"os"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// go.mod and go.sum are single-file bind mounts (compose.yaml), and such a
// mount holds the file, not its name: when the host replaces the file with
// a new one (git switch, pull or stash pop; an editor's safe write), the
// container goes on reading the old one, and builds use the old module
// list. The old file, no longer in any directory, then has no links: the
// moment its watch hears that, devloop says what happened and what to do.

// watchModuleFiles logs, once per file, that one of files was replaced on
// the host, until ctx ends.
func watchModuleFiles(ctx context.Context, files []string, logger *slog.Logger) {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		logger.Info("could not watch go.mod and go.sum: a replaced one goes unnoticed", "error", err)
		return
	}
	// Opened, so that a test's replaced file (not a mount) can still be
	// looked at; in the container the name would do as well.
	mounted := map[string]*os.File{}
	for _, name := range files {
		f, err := os.Open(name)
		if err == nil {
			err = watcher.Add(name)
		}
		if err != nil {
			logger.Info("could not watch "+name+": its replacement goes unnoticed", "error", err)
			continue
		}
		mounted[name] = f
	}
	go func() {
		defer func() {
			watcher.Close()
			for _, f := range mounted {
				f.Close()
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-watcher.Errors:
			case e, ok := <-watcher.Events:
				if !ok {
					return
				}
				if f := mounted[e.Name]; f != nil && unlinked(f) {
					logger.Warn(e.Name+" was replaced on the host (git switch, pull or stash; an editor's safe write): this container still reads the old one. To build with the new one: docker compose up -d --force-recreate dev",
						"file", e.Name)
					f.Close()
					delete(mounted, e.Name)
				}
			}
		}
	}()
}

// unlinked tells whether f is in no directory any more.
func unlinked(f *os.File) bool {
	info, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}
