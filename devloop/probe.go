package main

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Some mounts deliver no file events into the container: a checkout on the
// Windows side of WSL2, some VM and network file sharing, FUSE file
// systems. air then never hears of a save. Nothing names such a mount
// reliably, so devloop finds out the way a person would: it looks at the
// files now and then, and when a file has changed that no event announced,
// the mount sends none, and air is restarted polling. The first change that
// an event did announce settles it the other way, and the looking stops.

// probeInterval is how often the files are looked at until the question is
// settled: a save on a mount without events is noticed within about that.
const probeInterval = time.Second

// eventsArrive watches root for file events and stats every file under it
// every interval, until a change shows which it is: true when an event
// announced the change, false when none did. changed is the file. It
// returns false, "" when ctx ends first.
func eventsArrive(ctx context.Context, root string, interval time.Duration) (arrive bool, changed string, err error) {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return false, "", err
	}
	defer watcher.Close()
	// Reading the files (a build) makes no event fsnotify reports: any
	// event at all is a change announced.
	var announced atomic.Bool
	go func() {
		for e := range watcher.Events {
			announced.Store(true)
			if e.Has(fsnotify.Create) {
				_ = watcher.Add(e.Name) // a new directory; a file fails, harmlessly
			}
		}
	}()
	go func() {
		for range watcher.Errors { // an overflow still means events arrive
			announced.Store(true)
		}
	}()
	before, err := snapshot(root, func(dir string) { _ = watcher.Add(dir) })
	if err != nil {
		return false, "", err
	}
	return settle(ctx, root, interval, before, &announced)
}

// settle is the looking: it compares each snapshot with the first, and
// once one differs, asks whether an event has arrived.
func settle(ctx context.Context, root string, interval time.Duration, before map[string]fileState, announced *atomic.Bool) (bool, string, error) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, "", nil
		case <-tick.C:
		}
		now, err := snapshot(root, nil)
		if err != nil {
			return false, "", err
		}
		changed := firstChange(before, now)
		if changed == "" {
			continue
		}
		// Events come within microseconds of a write; the grace only
		// covers a write that lands while the snapshot is being taken.
		for range 2 {
			if announced.Load() {
				return true, changed, nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return false, changed, nil
	}
}

// fileState is what a poller compares: size and modification time.
type fileState struct {
	size    int64
	modTime time.Time
}

// snapshot stats every file under root; dir, when given, is called with
// each directory.
func snapshot(root string, dir func(string)) (map[string]fileState, error) {
	files := map[string]fileState{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone between the listing and the stat: the next one sees it
		}
		if d.IsDir() {
			if dir != nil {
				dir(path)
			}
			return nil
		}
		if info, err := d.Info(); err == nil {
			files[path] = fileState{size: info.Size(), modTime: info.ModTime()}
		}
		return nil
	})
	return files, err
}

// firstChange names a file created, changed or removed between two
// snapshots, or is empty.
func firstChange(before, now map[string]fileState) string {
	for path, state := range now {
		if old, ok := before[path]; !ok || old != state {
			return path
		}
	}
	for path := range before {
		if _, ok := now[path]; !ok {
			return path
		}
	}
	return ""
}
