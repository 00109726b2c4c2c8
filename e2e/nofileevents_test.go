package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"e2e/harness"
)

// noEventsLine is devloop's one line on a mount that sends no file events.
const noEventsLine = "this mount sends no file events"

// TestDevLoopOnAMountWithNoFileEvents serves the dev container's app/
// through a FUSE mount (bindfs) of a backing directory, and edits the
// backing directory: no change passes through the mount, so no file event
// reaches the container, as with a checkout on the Windows side of WSL2.
// With no setting, the first save is noticed and polled from then on.
func TestDevLoopOnAMountWithNoFileEvents(t *testing.T) {
	t.Parallel()
	p := newDevProject(t)
	backing := filepath.Join(p.Dir, "app")
	mount, unavailable := harness.MountWithoutFileEvents(t, backing)
	if mount == "" {
		t.Skipf("e2e: no FUSE here (%s): the test of a mount with no file events did not run", unavailable)
	}
	checkNoEvents(t, mount, backing)
	harness.MountAppFrom(t, p.Dir, mount)
	edit := func(t *testing.T, old, new string) { harness.ReplaceIn(t, p.marker, old, new) }

	harness.RunSteps(t, []harness.Step{
		{Name: "up serves through the mount", Run: func(t *testing.T) {
			p.Build()
			p.Compose("up", "-d")
			p.waitServes(markerText)
			if logs := p.Logs(); strings.Contains(logs, noEventsLine) {
				t.Fatalf("devloop said the mount sends no events before any save:\n%s", logs)
			}
		}},

		{Name: "the first save is noticed, said once, and served", Run: func(t *testing.T) {
			edit(t, fmt.Sprintf("%q", markerText), `"Hello, no events!"`)
			t.Logf("first save to its response: %s", p.waitServes("Hello, no events!"))
			if n := strings.Count(p.Logs(), noEventsLine); n != 1 {
				t.Errorf("devloop's line about the mount appears %d times, want once", n)
			}
		}},

		{Name: "five more saves each reload", Run: func(t *testing.T) {
			text := "Hello, no events!"
			for i := 1; i <= 5; i++ {
				next := fmt.Sprintf("Hello, polled %d!", i)
				edit(t, fmt.Sprintf("%q", text), fmt.Sprintf("%q", next))
				t.Logf("save %d to its response: %s", i, p.waitServes(next))
				text = next
			}
		}},

		{Name: "a compile error keeps the last good build, and its fix is served", Run: func(t *testing.T) {
			edit(t, `"Hello, polled 5!"`, `"Hello, polled 5!" + notDefinedAnywhere`)
			harness.Eventually(t, time.Minute, "the compiler's message in the logs", func() (bool, string) {
				return strings.Contains(p.Logs(), "undefined: notDefinedAnywhere"), "not yet"
			})
			p.waitServes("Hello, polled 5!")
			edit(t, `"Hello, polled 5!" + notDefinedAnywhere`, `"Hello, fixed without events!"`)
			p.waitServes("Hello, fixed without events!")
			if n := strings.Count(p.Logs(), noEventsLine); n != 1 {
				t.Errorf("devloop's line about the mount appears %d times, want once", n)
			}
		}},

		{Name: "stop is graceful", Run: func(t *testing.T) {
			p.Compose("stop")
			p.checkStoppedGracefully(t, "dev")
			p.Compose("down")
		}},
	}, p.Project)
}

// checkNoEvents: a change to backing makes no file event on mount. Without
// this the test would prove nothing about mounts without events.
func checkNoEvents(t *testing.T, mount, backing string) {
	t.Helper()
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	if err := watcher.Add(mount); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(backing, "no-events-probe.txt")
	harness.WriteFile(t, probe, "written behind the mount's back\n")
	if err := os.Remove(probe); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-watcher.Events:
		t.Fatalf("the FUSE mount delivered a file event (%s): it cannot stand in for a mount without events", e)
	case <-time.After(500 * time.Millisecond):
	}
	// ...while a change through the mount does: the watcher works.
	through := filepath.Join(mount, "no-events-probe.txt")
	harness.WriteFile(t, through, "written through the mount\n")
	defer os.Remove(through)
	select {
	case <-watcher.Events:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher saw nothing even of a change through the mount")
	}
}
