package main

import (
	"fmt"
	"time"

	"e2e/harness"
)

// coldStart times what a new user waits for on a fresh clone, with the base
// images present and BuildKit's cache empty: the first `docker compose up`
// until the first 200, beside a cold `make prod`.
func (b *bench) coldStart() {
	pruneBuildCache := func() { harness.Docker(b, "builder", "prune", "--all", "--force") }

	b.Logf("cold start: first docker compose up with an empty build cache")
	pruneBuildCache()
	fresh := harness.NewProject(b, harness.CopyOf(b, b.repo))
	up := timeIt(func() {
		fresh.Compose("up", "-d", "--build")
		harness.WaitBody(b, 5*time.Minute, fresh.URL("dev")+harness.MarkerPath, b.marker(b.repo))
	})
	fresh.Compose("down", "-v")

	b.Logf("cold start: make prod with an empty build cache")
	pruneBuildCache()
	prod := timeIt(func() { b.makeProd("prod") })

	title := "0. Cold start: empty BuildKit cache, base images present"
	b.add(title, "first `docker compose up` → first 200", round(up).String(), "build the dev image, start, build app/")
	b.add(title, "`make prod`", round(prod).String(), "")
	b.add(title, "first up / make prod", fmt.Sprintf("%.2f", ratio(up, prod)), "goal ≤ 1.5")
}
