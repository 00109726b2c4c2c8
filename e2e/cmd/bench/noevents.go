package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"e2e/harness"
)

// noEvents measures the dev loop on a mount that sends no file events (a
// FUSE mount, bindfs, of a directory edited behind its back, as in the e2e
// test) beside the ordinary bind mount, in the same run, with 1,000 more
// files in app/: save → new response, and the CPU the idle dev container
// uses, before the first save (devloop still looks at the files) and after
// it (settled: nothing to do on the ordinary mount, devloop polling the
// other).
func (b *bench) noEvents() {
	title := "8. A mount with no file events (bindfs), app/ holding 1,000 more files"
	idle := 30 * time.Second
	if b.quick {
		idle = 10 * time.Second
	}
	repo := b.copyRepo()
	for i := range 1000 {
		harness.WriteFile(b, filepath.Join(repo, "app", "pages", fmt.Sprintf("d%d", i/100), fmt.Sprintf("page%d.html", i)), "<p>page</p>\n")
	}

	b.Logf("no file events: the ordinary mount, %s idle before and after the first save, %d edits", idle, b.edits)
	normal := b.mountSeries(repo, idle)

	mount, unavailable := harness.MountWithoutFileEvents(b, filepath.Join(repo, "app"))
	if mount == "" {
		b.add(title, "not measured on a mount with no events", "n/a", unavailable)
		return
	}
	override := harness.MountAppFrom(b, repo, mount)
	b.Logf("no file events: the FUSE mount, the same")
	fuse := b.mountSeries(repo, idle)
	_ = os.Remove(override)

	b.add(title, "reload, ordinary mount", stats(normal.reloads), "save → new response, after two warm-up saves")
	b.add(title, "reload, mount with no events", stats(fuse.reloads), "devloop polls: Go sources every 250 ms")
	b.add(title, "no-events − ordinary (median)", round(median(fuse.reloads)-median(normal.reloads)).String(), "goal ≤ 600ms")
	b.add(title, "first save, mount with no events", round(fuse.first).String(),
		"noticed by devloop's look at the Go sources, once a second until the mount is known")
	for _, m := range []struct {
		name   string
		series mountSeries
	}{{"ordinary mount", normal}, {"mount with no events", fuse}} {
		b.add(title, "idle CPU before the first save, "+m.name, m.series.idleBefore, fmt.Sprintf("the dev container's processes over %s; goal ≤ 1%% of a core", idle))
		b.add(title, "idle CPU after it, "+m.name, m.series.idleAfter, "the same, once settled; goal ≤ 1% of a core")
	}
}

// mountSeries is what one mount gave.
type mountSeries struct {
	first                 time.Duration
	reloads               []time.Duration
	idleBefore, idleAfter string // share of a core
}

// mountSeries starts the dev service on repo (with whatever override is
// there), and measures idle CPU, the first save, the reloads, idle CPU again.
func (b *bench) mountSeries(repo string, idle time.Duration) mountSeries {
	p := harness.NewProject(b, repo)
	p.Compose("up", "-d", "--build")
	url := p.URL("dev") + harness.MarkerPath
	harness.WaitBody(b, 5*time.Minute, url, b.marker(repo))
	var m mountSeries
	m.idleBefore = b.idleCPU(p, idle)
	m.first = harness.WaitBody(b, time.Minute, url, b.edit(repo))
	m.reloads = b.reloadSeries(repo, url)
	time.Sleep(time.Second) // the last old server drains
	m.idleAfter = b.idleCPU(p, idle)
	p.Compose("down")
	return m
}

// idleCPU is the share of a core the dev container's processes used over d,
// from /proc; "n/a" where the engine's processes are not in this host's
// /proc (Docker Desktop).
func (b *bench) idleCPU(p *harness.Project, d time.Duration) string {
	var pids []int
	for _, line := range strings.Split(harness.Docker(b, "top", p.ContainerID("dev"), "-o", "pid"), "\n")[1:] {
		if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
			pids = append(pids, pid)
		}
	}
	before, ok := cpuTime(pids...)
	start := time.Now()
	time.Sleep(d)
	after, ok2 := cpuTime(pids...)
	if !ok || !ok2 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%% of a core", 100*float64(after-before)/float64(time.Since(start)))
}
