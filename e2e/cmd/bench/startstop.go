package main

import (
	"fmt"
	"strconv"
	"time"

	"e2e/harness"
)

// start times a warm `docker compose up` and a runner container, each from
// the command to the first 200.
func (b *bench) start() {
	b.Logf("start: warm docker compose up, and the runner container")
	project := b.devProject()
	project.Compose("down")
	dev := timeIt(func() {
		project.Compose("up", "-d")
		harness.WaitBody(b, 2*time.Minute, project.URL("dev")+harness.MarkerPath, b.marker(b.repo))
	})
	project.Compose("down")

	c := b.startRunner(b.prodImage(), nil)
	runner := time.Since(c.Started)
	title := "4. Start → first 200"
	b.add(title, "warm `docker compose up` (dev)", round(dev).String(), "image built, cache volumes warm")
	b.add(title, "runner container (`docker run -d`)", round(runner).String(), "includes reading the published port back")
}

// startRunner starts image and waits until its marker route answers what
// the bench's copy holds.
func (b *bench) startRunner(image string, flags []string) *harness.Container {
	c := harness.StartContainer(b, image, flags)
	harness.WaitBody(b, time.Minute, c.URL+harness.MarkerPath, b.marker(b.repo))
	return c
}

// stopUnderLoad runs docker stop on the runner while 32 clients keep
// requests in flight, and counts what the server accepted and answered.
func (b *bench) stopUnderLoad() {
	b.Logf("stop under load: docker stop while 32 clients keep requests in flight")
	c := b.startRunner(b.prodImage(), nil)
	drain, took := harness.StopUnderLoadAt(b, c, harness.MarkerPath, 32, 2000, b.marker(b.repo))
	code := c.Inspect("{{.State.ExitCode}}")

	title := "5. Stop under load (runner, 32 clients on loopback)"
	b.add(title, "docker stop took", round(took).String(), "grace period 10 s")
	b.add(title, "exit code", code, "0: drained, not SIGKILLed")
	b.add(title, "requests the server accepted / answered in full", fmt.Sprintf("%d / %d", drain.Accepted, drain.Answered()), "")
	b.add(title, "accepted requests that failed", strconv.Itoa(len(drain.Lost)), "goal 0")
	b.add(title, "requests refused after the listener closed", strconv.Itoa(drain.RefusedCount()), "never reached the server")
	if len(drain.Lost) > 0 || code != "0" {
		b.far("docker stop under load lost %d accepted requests, exit code %s", len(drain.Lost), code)
	}
}
