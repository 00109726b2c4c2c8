package main

import (
	"fmt"
	"time"

	"e2e/harness"
)

// rebuild times the image builds after a one-line change, ours beside the
// tutorial build, and a cold `make prod` with every cache emptied.
func (b *bench) rebuild() {
	b.Logf("rebuild: one-line change, make prod vs the tutorial build, both warm")
	b.edit(b.repo)
	ours := timeIt(func() { b.makeProd("prod") })
	tutorial := timeIt(func() { b.buildTutorial() })

	b.Logf("rebuild: cold make prod (no layer cache, cache mounts pruned)")
	harness.Docker(b, "builder", "prune", "-f", "--filter", "type=exec.cachemount")
	cold := timeIt(func() { b.makeProd("prod", "BUILDFLAGS=--no-cache") })

	title := "3. Rebuild after a one-line change in app/ (warm)"
	b.add(title, "make prod", round(ours).String(), "cache mounts: one package recompiles")
	b.add(title, "tutorial build", round(tutorial).String(), "COPY . . then go build: modules and every package again")
	b.add(title, "tutorial build / ours", fmt.Sprintf("%.1f×", ratio(tutorial, ours)), "")
	b.add(title, "cold make prod", round(cold).String(), "--no-cache, BuildKit cache mounts pruned; base images present")
}

func timeIt(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}
