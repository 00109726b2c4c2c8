package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"e2e/harness"
)

// reload times save → first response with the new code, (a) in this
// project's dev container, (b) in the same image run with air's defaults,
// and (c) against the floor: an incremental go build on the host.
func (b *bench) reload() {
	b.Logf("reload (a): building and starting the dev container")
	dev := b.devProject()
	b.Logf("reload (a): %d edits", b.edits)
	ours := b.reloadSeries(b.repo, dev.URL("dev")+"/")

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
	defaults := b.reloadSeries(plain, air.URL+"/")

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

	title := fmt.Sprintf("1. Reload: save → new response, %d edits", b.edits)
	b.add(title, "(a) this dev container", stats(ours), "air + docker/dev-run, .air.toml")
	b.add(title, "(b) same image, air defaults", stats(defaults), "whole project mounted, root, delay 1000 ms")
	b.add(title, "(c) floor: incremental `go build ./app` on the host", stats(floor), "")
	ac, ab := ratio(median(ours), median(floor)), ratio(median(ours), median(defaults))
	b.add(title, "a/c (median)", fmt.Sprintf("%.2f", ac), "goal ≤ 1.3")
	b.add(title, "a/b (median)", fmt.Sprintf("%.2f", ab), "lower is better")
	if ac > maxReloadOverFloor {
		b.far("reload median %s is %.1f× the build floor %s (bound %.0f×)", round(median(ours)), ac, round(median(floor)), maxReloadOverFloor)
	}
}

// reloadSeries waits for a freshly started dev server at url, warms it up
// with two edits, then returns the reload times of b.edits more.
func (b *bench) reloadSeries(repo, url string) []time.Duration {
	harness.WaitBody(b, 5*time.Minute, url, b.greeting(repo))
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
