package main

import (
	"regexp"
	"strings"
	"time"

	"e2e/harness"
)

// devloopStopped is devloop's last line on the way out (devloop/main.go,
// wayOut): whether everything ended by itself, and how long it took.
var devloopStopped = regexp.MustCompile(`msg="stopped: ([^"]*)" from=devloop took=(\S+)`)

// maxDevStop is far from the goal (under 1 s) so that only a regression,
// never a busy machine, trips it: twice the goal, half devloop's bound.
const maxDevStop = 2 * time.Second

// devStop times `docker compose stop` of the dev container while it holds
// what a browser tab leaves open: an idle keep-alive connection, a
// preconnected socket and a half-sent request.
func (b *bench) devStop() {
	b.Logf("dev stop: docker compose stop with a keep-alive, a preconnected and a half-sent connection open")
	project := b.devProject()
	url := project.URL("dev")
	harness.WaitBody(b, 2*time.Minute, url+harness.MarkerPath, b.marker(b.repo))
	harness.OpenLingering(b, strings.TrimPrefix(url, "http://"))
	took := timeIt(func() { project.Compose("stop") })
	code := harness.Inspect(b, project.ContainerID("dev"), "{{.State.ExitCode}}")
	how, devloopTook := "no line", "?"
	if lines := devloopStopped.FindAllStringSubmatch(project.Logs(), -1); len(lines) > 0 {
		last := lines[len(lines)-1]
		how, devloopTook = last[1], last[2]
	}

	title := "5b. Stop of the dev container, a browser's connections open (keep-alive, preconnected, half-sent)"
	b.add(title, "`docker compose stop` took", round(took).String(), "goal < 1 s (4.35 s before devloop closed such connections at once); stop_grace_period 6 s")
	b.add(title, "devloop's way out (its last line)", devloopTook, how)
	b.add(title, "exit code", code, "0: ended by itself, not SIGKILLed")
	if code != "0" || !strings.HasPrefix(how, "everything ended by itself") {
		b.far("docker compose stop of the dev container: exit code %s, devloop: %s", code, how)
	}
	if took > maxDevStop {
		b.far("docker compose stop of the dev container took %s (bound %s, goal < 1 s)", round(took), maxDevStop)
	}
}
