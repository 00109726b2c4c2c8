package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-dap"

	"e2e/harness"
	"e2e/load"
)

// reload times save → first response with the new code, (a) in this
// project's dev container, (b) in the same image run with air's defaults,
// against (c) the floor, an incremental go build on the host, and (d) the
// same build inside the dev container. What the loop itself adds is (a)
// less the compile time devloop logs for that edit: a − d would also count
// the build's slowdown under (a)'s own polls.
func (b *bench) reload() {
	b.Logf("reload (a): building and starting the dev container")
	dev := b.devProject()
	// (a) and (d) take turns, edit by edit, so that a − d compares them
	// under the same load of the machine.
	b.Logf("reload (a) and (d): %d edits, each followed by the same build in a second dev container", b.edits)
	builder := b.startBuilder(dev)
	url := dev.URL("dev") + harness.MarkerPath
	harness.WaitBody(b, 5*time.Minute, url, b.marker(b.repo))
	b.measureReloads(b.repo, url, 2) // warm up
	var ours, inContainer, beyondBuild []time.Duration
	for i := range b.edits {
		ours = append(ours, b.measureReloads(b.repo, url, 1)...)
		beyondBuild = append(beyondBuild, ours[i]-b.lastCompile(dev))
		inContainer = append(inContainer, b.containerBuild(builder, i))
	}
	// The builder is a container of the dev service too: gone, it leaves the
	// service one container for later measurements to look up (devstop).
	harness.Docker(b, "rm", "-f", builder)
	b.Logf("reload (a) under load: %d edits while 4 clients request GET %s", b.edits, harness.MarkerPath)
	underLoad := harness.LoadAt(b, strings.TrimPrefix(dev.URL("dev"), "http://"), harness.MarkerPath, 4, 100, "", func(gen *load.Generator) {
		for range b.edits {
			harness.WaitBody(b, time.Minute, url, b.edit(b.repo))
			harness.WaitMore(b, gen, 50)
		}
	})
	failed := 0
	for _, n := range underLoad.Failed {
		failed += n
	}

	// (b) the same image with air's default configuration, the way most
	// people run it: the whole project mounted, as root, building into tmp/.
	b.Logf("reload (b): the same image with air's defaults, %d edits", b.edits)
	plain := b.copyRepo()
	if err := os.Remove(filepath.Join(plain, ".air.toml")); err != nil {
		b.Fatalf("%v", err)
	}
	air := harness.StartContainer(b, dev.Name+"-dev",
		[]string{"--user", "0", "-v", plain + ":/work", "-w", "/work", "-e", "LOG_FORMAT=text", "--entrypoint", "air"},
		"-build.cmd", "go build -o ./tmp/main ./app")
	// tmp/ is root's: remove it from inside before the directory goes.
	b.Cleanup(func() {
		_, _ = harness.Run(context.Background(), "", nil, "docker", "exec", air.Name, "rm", "-rf", "/work/tmp")
	})
	defaults := b.reloadSeries(plain, air.URL+harness.MarkerPath)

	b.Logf("reload (e): the debug service, every build under delve, %d edits", b.edits)
	debugRepo := b.copyRepo()
	debug := harness.NewProject(b, debugRepo, "debug")
	debug.Compose("up", "-d", "--build")
	underDelve := b.reloadSeries(debugRepo, debug.URL("debug")+harness.MarkerPath)
	b.Logf("reload (f): the same with one editor session attached throughout, %d edits", b.edits)
	underSession := b.sessionSeries(debugRepo, debug)
	debug.Compose("down")

	floor := b.floorSeries()

	title := fmt.Sprintf("1. Reload: save → new response, %d edits", b.edits)
	b.add(title, "(a) this dev container", stats(ours), "air + devloop, .air.toml")
	b.add(title, fmt.Sprintf("(a) requests refused or failed during %d reloads", b.edits),
		fmt.Sprintf("%d of %d", failed, failed+len(underLoad.OK)), "4 clients on GET "+harness.MarkerPath+" throughout; goal 0")
	b.add(title, "(b) same image, air defaults", stats(defaults), "whole project mounted, root, delay 1000 ms")
	b.add(title, "(c) floor: incremental `go build ./app` on the host", stats(floor), "default flags: optimised, DWARF kept")
	b.add(title, "(d) the same build inside the dev container", stats(inContainer), "devloop's flags, the cache volumes, edit by edit in turn with (a); busybox time, 10 ms steps")
	b.add(title, "(e) the debug service (`make debug`)", stats(underDelve), "DWARF kept, under a fresh delve each time")
	b.add(title, "(f) the same, one editor session attached: save → stopped at the breakpoint in the new build", stats(underSession),
		"a DAP client as VS Code; devloop's relay replays the session into each new delve")
	ac, ab := ratio(median(ours), median(floor)), ratio(median(ours), median(defaults))
	b.add(title, "a/c (median)", fmt.Sprintf("%.2f", ac), "goal ≤ 1.3")
	b.add(title, "a/b (median)", fmt.Sprintf("%.2f", ab), "lower is better")
	b.add(title, "e/c (median)", fmt.Sprintf("%.2f", ratio(median(underDelve), median(floor))), "goal ≤ 1.5")
	b.add(title, "f/c (median)", fmt.Sprintf("%.2f", ratio(median(underSession), median(floor))), "goal ≤ 1.5")
	b.add(title, "f − e (median): what carrying the session adds", round(median(underSession)-median(underDelve)).String(), "goal ≤ 100ms")
	b.add(title, "a − d (median)", round(median(ours)-median(inContainer)).String(),
		"what a reload adds to a quiet build: the loop's own steps, and the build slowed by the 200 polls a second that time (a), which the old server answers while it runs")
	b.add(title, "a − devloop's compile time (median): what a reload adds to its build", round(median(beyondBuild)).String(),
		"detection, debounce, notify, start, switch, first response; the compile time from devloop's log, edit by edit; goal ≤ 100ms")
	if failed > 0 {
		b.far("%d requests failed during %d reloads: %v", failed, b.edits, underLoad.Failed)
	}
	if ac > maxReloadOverFloor {
		b.far("reload median %s is %.1f× the build floor %s (bound %.0f×)", round(median(ours)), ac, round(median(floor)), maxReloadOverFloor)
	}
}

// floorSeries is (c): b.edits incremental builds of ./app on the host, each
// after an edit.
func (b *bench) floorSeries() []time.Duration {
	b.Logf("reload (c): incremental go build ./app on the host, %d edits", b.edits)
	floorRepo := b.copyRepo()
	build := func() time.Duration {
		start := time.Now()
		harness.Command(b, floorRepo, nil, "go", "build", "-o", filepath.Join(b.work, "floor-app"), "./app")
		return time.Since(start)
	}
	build() // warm the host's build cache
	var floor []time.Duration
	for range b.edits {
		b.edit(floorRepo)
		floor = append(floor, build())
	}
	return floor
}

// session is row (f) alone beside the floor (c), for work on the debug
// relay without the whole reload table (BENCH_ONLY=session).
func (b *bench) session() {
	b.Logf("reload (f): the debug service with one editor session attached throughout, %d edits", b.edits)
	repo := b.copyRepo()
	debug := harness.NewProject(b, repo, "debug")
	debug.Compose("up", "-d", "--build")
	harness.WaitBody(b, 5*time.Minute, debug.URL("debug")+harness.MarkerPath, b.marker(repo))
	underSession := b.sessionSeries(repo, debug)
	debug.Compose("down")
	floor := b.floorSeries()
	title := fmt.Sprintf("1. Reload: save → new response, %d edits", b.edits)
	b.add(title, "(c) floor: incremental `go build ./app` on the host", stats(floor), "default flags: optimised, DWARF kept")
	b.add(title, "(f) the debug service, one editor session attached: save → stopped at the breakpoint in the new build", stats(underSession),
		"a DAP client as VS Code; devloop's relay replays the session into each new delve")
	b.add(title, "f/c (median)", fmt.Sprintf("%.2f", ratio(median(underSession), median(floor))), "goal ≤ 1.5")
}

// reloadSeries waits for a freshly started dev server at url, warms it up
// with two edits, then returns the reload times of b.edits more.
func (b *bench) reloadSeries(repo, url string) []time.Duration {
	harness.WaitBody(b, 5*time.Minute, url, b.marker(repo))
	b.measureReloads(repo, url, 2)
	return b.measureReloads(repo, url, b.edits)
}

// measureReloads edits the copy n times and returns, for each edit, the time
// from the save to the first response carrying it.
func (b *bench) measureReloads(repo, url string, n int) []time.Duration {
	var samples []time.Duration
	for range n {
		samples = append(samples, harness.WaitBody(b, time.Minute, url, b.edit(repo)))
		time.Sleep(300 * time.Millisecond) // let the new server settle
	}
	return samples
}

// sessionSeries attaches one DAP session to the debug service of p, as VS
// Code does, with a breakpoint in the marker's handler, and returns, for each
// of b.edits edits (after two to warm up), the time from the save to the
// stopped event of a request in the new build.
func (b *bench) sessionSeries(repo string, p *harness.Project) []time.Duration {
	marker := harness.MarkerFile(repo)
	url := p.URL("debug") + harness.MarkerPath
	d := harness.DialDAP(b, p.Addr("debug", 2345))
	d.Attach(map[string]any{"request": "attach", "mode": "remote", "substitutePath": []map[string]string{{"from": repo, "to": "/src"}}},
		marker, harness.LineOf(b, marker, strconv.Quote(b.marker(repo))))
	var samples []time.Duration
	for i := range b.edits + 2 {
		start := time.Now()
		text := b.edit(repo)
		d.WaitOutput("serving")
		got := make(chan string, 1)
		go func() { _, body, _ := harness.Get(url); got <- body }()
		stopped := d.WaitEvent("stopped").(*dap.StoppedEvent)
		took := time.Since(start)
		d.Request("continue", map[string]any{"threadId": stopped.Body.ThreadId})
		if body := <-got; body != text {
			b.Fatalf("after continue the request got %q, want %q", body, text)
		}
		if i >= 2 {
			samples = append(samples, took)
		}
		time.Sleep(300 * time.Millisecond) // let the new server settle
	}
	d.Request("disconnect", map[string]any{"terminateDebuggee": false})
	return samples
}

// compiledIn is devloop's log of a build that took over: "compiled=612ms".
var compiledIn = regexp.MustCompile(`compiled=(\S+)`)

// lastCompile is how long the newest build in dev took to compile, by
// devloop's log.
func (b *bench) lastCompile(dev *harness.Project) time.Duration {
	logs := dev.Compose("logs", "--no-color", "--tail", "50", "dev")
	all := compiledIn.FindAllStringSubmatch(logs, -1)
	if all == nil {
		b.Fatalf("no compile time in devloop's log:\n%s", logs)
	}
	took, err := time.ParseDuration(all[len(all)-1][1])
	if err != nil {
		b.Fatalf("devloop's compile time: %v", err)
	}
	return took
}

// buildTime is one line of busybox time's report: "real 0m 0.45s".
var buildTime = regexp.MustCompile(`real\s+(\d+)m\s*([\d.]+)s`)

// startBuilder starts a second container of the dev service (its image,
// cache volumes and tmpfs) that idles, with a copy of the sources inside it
// (the running air sees none of its edits), built once; containerBuild
// times devloop's build in it.
func (b *bench) startBuilder(dev *harness.Project) string {
	name := harness.UniqueName(dev.Name + "-builder-")
	dev.Compose("run", "-d", "--no-deps", "--name", name, "--entrypoint", "sleep", "dev", "3600")
	b.Cleanup(func() { _, _ = harness.Run(context.Background(), "", nil, "docker", "rm", "-f", name) })
	harness.Docker(b, "exec", name, "sh", "-c", `set -e
mkdir -p /tmp/d && cp /src/go.mod /src/go.sum /tmp/d/ && cp -r /src/app /tmp/d/app && cd /tmp/d
`+harness.DevBuild+` -o /tmp/d/bin ./app`)
	return name
}

// containerBuild edits the marker in the builder's copy, a new answer
// each time, and times devloop's build of it with busybox time.
func (b *bench) containerBuild(builder string, i int) time.Duration {
	out := harness.Docker(b, "exec", builder, "sh", "-c", fmt.Sprintf(`set -e
cd /tmp/d && cat > %s <<'EOF'
%sEOF
time %s -o /tmp/d/bin ./app 2>&1`, harness.MarkerFile("."), harness.MarkerSource(fmt.Sprintf("Hello, d%d!", i)), harness.DevBuild))
	m := buildTime.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no time in the in-container build's output:\n%s", out)
	}
	minutes, _ := strconv.Atoi(m[1])
	seconds, _ := strconv.ParseFloat(m[2], 64)
	return time.Duration(minutes)*time.Minute + time.Duration(seconds*float64(time.Second))
}
