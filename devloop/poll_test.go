package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A file system's modification times can be coarse: a save in the same
// tick as the last look would not show. Each edit here changes the size.
func TestPollerSeesGoSourcesAtOnceAndTheRestInTurn(t *testing.T) {
	root := t.TempDir()
	handlers := filepath.Join(root, "handlers.go")
	writeFile(t, handlers, "package main\n")
	var pages []string
	for i := range 40 {
		page := filepath.Join(root, "pages", "page"+string(rune('a'+i%26))+string(rune('a'+i/26))+".html")
		writeFile(t, page, "<p>\n")
		pages = append(pages, page)
	}
	writeFile(t, filepath.Join(root, "handlers_test.go"), "package main\n")
	writeFile(t, filepath.Join(root, "testdata", "golden.txt"), "x\n")

	const interval = time.Second // coldPass/interval = 5 looks for a whole pass
	p := newPoller(root, interval)
	if got := p.look(); got != "" {
		t.Fatalf("nothing changed, look says %s", got)
	}

	writeFile(t, handlers, "package main // saved\n")
	if got := p.look(); got != handlers {
		t.Fatalf("a Go source changed; the next look says %q", got)
	}

	writeFile(t, pages[17], "<p>saved</p>\n")
	looks := 0
	for got := ""; got == ""; looks++ {
		if looks > int(coldPass/interval) {
			t.Fatalf("a page changed; %d looks did not see it", looks)
		}
		got = p.look()
		if got != "" && got != pages[17] {
			t.Fatalf("look says %s changed", got)
		}
	}
	// Once changed, it is looked at every time.
	writeFile(t, pages[17], "<p>saved again</p>\n")
	if got := p.look(); got != pages[17] {
		t.Fatalf("a page that changed before changed again; the next look says %q", got)
	}

	// Tests and test data are no input of the server.
	writeFile(t, filepath.Join(root, "handlers_test.go"), "package main // a test\n")
	writeFile(t, filepath.Join(root, "testdata", "golden.txt"), "changed\n")
	for range int(coldPass/interval) + 1 {
		if got := p.look(); got != "" {
			t.Fatalf("look says %s changed; tests and testdata are not watched", got)
		}
	}
}

func TestPollerLooksAtAFileRemovedAndCreatedAgainOnce(t *testing.T) {
	root := t.TempDir()
	page := filepath.Join(root, "page.html")
	writeFile(t, page, "<p>\n")
	p := newPoller(root, listEvery)
	for range 3 {
		if err := os.Remove(page); err != nil {
			t.Fatal(err)
		}
		p.look()
		writeFile(t, page, "<p>\n")
		p.look()
	}
	if n := len(p.cold); n != 1 {
		t.Fatalf("after a file went and came back three times, %d cold entries, want 1: %v", n, p.cold)
	}
}

func TestPollerSeesFilesCreatedAndRemoved(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "main.go"), "package main\n")
	p := newPoller(root, listEvery)
	created := filepath.Join(root, "greeting", "greeting.go")
	writeFile(t, created, "package greeting\n")
	if got := p.look(); got != created {
		t.Fatalf("a new package; the next look says %q", got)
	}
	if err := os.Remove(created); err != nil {
		t.Fatal(err)
	}
	if got := p.look(); got != created {
		t.Fatalf("a file removed; the next look says %q", got)
	}
}

// noEvents stands in for a mount that sends no file events.
func noEvents(string) (*atomic.Bool, func(), error) { return new(atomic.Bool), func() {}, nil }

// watching runs pollIfNoEvents on root, waits until it has its first view
// of the files, and returns its changes, its log, and a channel closed when
// it returns.
func watching(t *testing.T, root string, poll bool, events func(string) (*atomic.Bool, func(), error)) (chan struct{}, *syncBuffer, chan struct{}) {
	changes := make(chan struct{}, 1)
	log := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done, polling := make(chan struct{}), make(chan struct{})
	testHookPolling = func() { close(polling) }
	go func() {
		defer close(done)
		pollIfNoEvents(ctx, root, poll, changes, slog.New(slog.NewTextHandler(log, nil)), events)
	}()
	t.Cleanup(func() { cancel(); <-done; testHookPolling = nil })
	select {
	case <-polling:
	case <-done:
	}
	return changes, log, done
}

// changedWithin says whether a change came in within d.
func changedWithin(changes <-chan struct{}, d time.Duration) bool {
	select {
	case <-changes:
		return true
	case <-time.After(d):
		return false
	}
}

// handlersIn is a directory holding handlers.go, and that file.
func handlersIn(t *testing.T) (root, handlers string) {
	root = t.TempDir()
	handlers = filepath.Join(root, "handlers.go")
	writeFile(t, handlers, "package main\n")
	return root, handlers
}

func TestAMountWithNoEventsIsSaidOnceAndPolled(t *testing.T) {
	root, handlers := handlersIn(t)
	changes, log, _ := watching(t, root, false, noEvents)
	writeFile(t, handlers, "package main // first save\n")
	if !changedWithin(changes, probeInterval+2*time.Second) {
		t.Fatal("a save with no event was not noticed")
	}
	for i := range 3 {
		writeFile(t, handlers, "package main // save "+strings.Repeat("!", i+1)+"\n")
		if !changedWithin(changes, 2*time.Second) {
			t.Fatalf("save %d after the first was not polled", i+1)
		}
	}
	if n := strings.Count(log.String(), "this mount sends no file events"); n != 1 {
		t.Errorf("the line about the mount was logged %d times, want once:\n%s", n, log)
	}
}

// TestAMountWithEventsIsLeftToAir: once a save came with a file event,
// devloop stops looking (it returns), having sent no change of its own and
// said nothing.
func TestAMountWithEventsIsLeftToAir(t *testing.T) {
	root, handlers := handlersIn(t)
	changes, log, done := watching(t, root, false, fsnotifyEvents)
	writeFile(t, handlers, "package main // saved\n")
	select {
	case <-done:
	case <-time.After(probeInterval + 5*time.Second):
		t.Fatal("devloop still looks at a mount that sends events")
	}
	if len(changes) != 0 {
		t.Fatal("a save on a mount with events made devloop reload on its own; air does that")
	}
	if log.String() != "" {
		t.Errorf("devloop logged on a mount with events: %s", log)
	}
}

func TestAirPollTruePollsFromTheStart(t *testing.T) {
	root, handlers := handlersIn(t)
	changes, log, _ := watching(t, root, true, nil)
	writeFile(t, handlers, "package main // saved\n")
	if !changedWithin(changes, 2*time.Second) {
		t.Fatal("AIR_POLL=true: a save was not polled")
	}
	if got := log.String(); strings.Contains(got, "sends no file events") || strings.Count(got, "AIR_POLL=true") != 1 {
		t.Errorf("with AIR_POLL=true devloop should say once that it polls, and nothing about the mount: %s", got)
	}
}
