package main

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Some mounts deliver no file events into the container: a checkout on the
// Windows side of WSL2, some VM and network file sharing, FUSE file
// systems. air then never hears of a save. Nothing names such a mount
// reliably, so devloop finds out the way a person would: it looks at the
// files now and then, beside a file watch of its own; when a file has
// changed and no event announced it, the mount sends none, and devloop
// polls from then on, reloading on what it sees. The first change an event
// did announce settles it the other way, and the looking stops.
//
// Looking costs a stat per file, which on such mounts is a round trip to
// another machine or process (about 25 µs of the container's CPU through
// FUSE; with 1,000 files, a look at each every second would cost the idle
// container 2.6 % of a core). So the Go sources, which nearly every save
// touches, are looked at every time, and the other files (templates,
// assets, embedded data) in turn, each once per coldPass; a file that has
// changed once is looked at every time from then on.
const (
	probeInterval = time.Second            // until settled: a save is noticed within about this
	pollInterval  = 250 * time.Millisecond // polling: what a save waits for, half of it on average
	coldPass      = 20 * time.Second       // every other file, at least this often
	listEvery     = 2 * time.Second        // directories, for files created or removed
)

// testHookPolling, when a test sets it, is called once the poller has its
// first view of the files: a save after it is a change.
var testHookPolling func()

// pollIfNoEvents runs until ctx ends. With poll set it polls from the
// start (AIR_POLL=true); otherwise it probes, and polls once a save came
// with no event. Each change it sees when polling is sent on changes.
// fileEvents watches root (fsnotifyEvents, or a test's stand-in).
func pollIfNoEvents(ctx context.Context, root string, poll bool, changes chan<- struct{}, logger *slog.Logger,
	fileEvents func(root string) (announced *atomic.Bool, stop func(), err error)) {
	announced := new(atomic.Bool)
	if !poll {
		var stop func()
		var err error
		if announced, stop, err = fileEvents(root); err != nil {
			logger.Info("could not find out whether this mount sends file events; set AIR_POLL=true in .env if saves do not reload", "error", err)
			return
		}
		defer stop()
	}
	interval := probeInterval
	if poll {
		interval = pollInterval
		logger.Info("polling for changes from the start (AIR_POLL=true); unset it to have devloop find out whether this mount sends file events")
	}
	p := newPoller(root, interval)
	if testHookPolling != nil {
		testHookPolling()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		changed := p.look()
		if changed == "" {
			continue
		}
		if !poll {
			// Events come within microseconds of a write; the grace only
			// covers a write that lands while the files are being looked at.
			for range 2 {
				if announced.Load() {
					return // this mount sends events: air has it
				}
				time.Sleep(100 * time.Millisecond)
			}
			logger.Info("this mount sends no file events (a save to "+changed+" came with none): "+
				"polling for changes from now on; AIR_POLL=true in .env says so from the start, AIR_POLL=false turns it off",
				"changed", changed)
			poll = true
			p.setInterval(pollInterval)
			tick.Reset(pollInterval)
		}
		select {
		case changes <- struct{}{}:
		default: // a reload is pending already
		}
	}
}

// fsnotifyEvents watches every directory under root; announced turns true
// at the first event. Reading the files (a build) makes no event fsnotify
// reports: any event at all is a change announced.
func fsnotifyEvents(root string) (announced *atomic.Bool, stop func(), err error) {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, nil, err
	}
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = watcher.Add(path)
		}
		return nil
	})
	announced = new(atomic.Bool)
	go func() {
		for range watcher.Events {
			announced.Store(true)
		}
	}()
	go func() {
		for range watcher.Errors { // an overflow still means events arrive
			announced.Store(true)
		}
	}()
	return announced, func() { watcher.Close() }, nil
}

// fileState is what a poller compares: size and modification time.
type fileState struct {
	size    int64
	modTime time.Time
}

// poller remembers the state of the files under root, and looks at some of
// them on each call of look.
type poller struct {
	root      string
	files     map[string]fileState
	hot       map[string]bool // looked at every time
	cold      []string        // the others, in turn
	next      int             // where the turn of the cold files is
	coldEach  int             // cold files per look
	listTicks int             // looks between two listings of the directories
	ticks     int
}

func newPoller(root string, interval time.Duration) *poller {
	p := &poller{root: root, files: map[string]fileState{}, hot: map[string]bool{}}
	for _, path := range p.list() {
		p.add(path)
	}
	p.setInterval(interval)
	return p
}

// setInterval spreads the cold files over looks interval apart.
func (p *poller) setInterval(interval time.Duration) {
	looks := max(int(coldPass/interval), 1)
	p.coldEach = (len(p.cold) + looks - 1) / looks
	p.listTicks = max(int(listEvery/interval), 1)
}

// list names the files under root that a build or the app may read: all
// but those go build ignores (tests, testdata, names starting with . or _).
func (p *poller) list() []string {
	var files []string
	_ = filepath.WalkDir(p.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone between the listing and now: the next look sees it
		}
		name := d.Name()
		if path != p.root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) || name == "testdata" && d.IsDir() {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && !strings.HasSuffix(name, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	return files
}

func (p *poller) add(path string) {
	state, _ := stat(path)
	p.files[path] = state
	if strings.HasSuffix(path, ".go") {
		p.hot[path] = true
	} else {
		p.cold = append(p.cold, path)
	}
}

// look returns a file that changed, was created or was removed since it
// was last looked at, or "".
func (p *poller) look() string {
	changed := ""
	note := func(path string) {
		if changed == "" {
			changed = path
		}
	}
	p.ticks++
	if p.ticks%p.listTicks == 0 {
		seen := map[string]bool{}
		for _, path := range p.list() {
			seen[path] = true
			if _, known := p.files[path]; !known {
				p.add(path)
				p.hot[path] = true
				note(path)
			}
		}
		removed := false
		for path := range p.files {
			if !seen[path] {
				delete(p.files, path)
				delete(p.hot, path)
				note(path)
				removed = true
			}
		}
		if removed { // a file created again later is added again
			p.cold = slices.DeleteFunc(p.cold, func(path string) bool { _, known := p.files[path]; return !known })
		}
	}
	check := func(path string) {
		old, known := p.files[path]
		if !known {
			return
		}
		if now, _ := stat(path); now != old {
			p.files[path] = now
			p.hot[path] = true
			note(path)
		}
	}
	for path := range p.hot {
		check(path)
	}
	for range min(p.coldEach, len(p.cold)) {
		p.next %= len(p.cold)
		if path := p.cold[p.next]; !p.hot[path] {
			check(path)
		}
		p.next++
	}
	return changed
}

// stat reads a file's size and modification time; a file that is gone has
// the zero state.
func stat(path string) (fileState, error) {
	info, err := os.Stat(path)
	if err != nil {
		return fileState{}, err
	}
	return fileState{size: info.Size(), modTime: info.ModTime()}, nil
}
