package main

import (
	"fmt"
	"time"
)

// rebuild times the image builds after a one-line change, ours beside the
// tutorial build (a cold `make prod` is in coldstart.go).
func (b *bench) rebuild() {
	b.Logf("rebuild: one-line change, make prod vs the tutorial build, both warm")
	b.edit(b.repo)
	ours := timeIt(func() { b.makeProd("prod") })
	tutorial := timeIt(func() { b.buildTutorial() })

	title := "3. Rebuild after a one-line change in app/ (warm)"
	b.add(title, "make prod", round(ours).String(), "cache mounts: one package recompiles")
	b.add(title, "tutorial build", round(tutorial).String(), "COPY . . then go build: modules and every package again")
	b.add(title, "tutorial build / ours", fmt.Sprintf("%.1f×", ratio(tutorial, ours)), "")
}

func timeIt(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}
