package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"e2e/harness"
)

// devloopStoppedByItself is devloop's last line when the way out ended
// within its bound, nothing killed (devloop/main.go, wayOut).
const devloopStoppedByItself = "stopped: everything ended by itself within the bound"

// TestDevServerCrashAndStop: a server that dies names how, in the log and
// in the 502 that follows, and the next save serves again; then what a
// browser tab leaves open on the dev server (an idle keep-alive connection,
// a preconnected socket, a half-sent request) does not hold up `docker
// compose stop`: the container exits 0 by itself, and devloop's last line
// says that everything ended within its bound, so neither that bound nor
// Docker's grace period (compose.yaml's stop_grace_period) had to cut
// anything off. The time it takes is in `make bench` (section 5b).
func TestDevServerCrashAndStop(t *testing.T) {
	t.Parallel()
	p := harness.NewProject(t, harness.CopyRepo(t))
	healthz := func() (int, string) {
		status, body, err := harness.Get(p.URL("dev") + "/healthz")
		if err != nil {
			return 0, err.Error()
		}
		return status, body
	}
	waitHealthy := func(t *testing.T) {
		harness.Eventually(t, 5*time.Minute, "GET /healthz to answer 200", func() (bool, string) {
			status, body := healthz()
			return status == http.StatusOK, body
		})
	}

	harness.RunSteps(t, []harness.Step{
		{Name: "up serves", Run: func(t *testing.T) {
			p.Build()
			p.Compose("up", "-d")
			waitHealthy(t)
		}},

		{Name: "a crash names its exit status", Run: func(t *testing.T) {
			// SIGKILL, as the kernel's OOM killer would: the server cannot
			// say anything itself.
			p.Exec("dev", "sh", "-c", `for d in /proc/[0-9]*; do
				case $(readlink "$d/exe") in /tmp/devloop/builds/*) kill -KILL "${d#/proc/}";; esac
			done`)
			harness.Eventually(t, time.Minute, "devloop's line about the crash", func() (bool, string) {
				return strings.Contains(p.Logs(), `msg="the server exited by itself; the next save starts a new build" from=devloop build=1 status="signal: killed"`), "not yet"
			})
			if status, body := healthz(); status != http.StatusBadGateway || !strings.Contains(body, "signal: killed") {
				t.Errorf("after the crash GET /healthz got %d %q; want a 502 naming the signal", status, body)
			}
		}},

		{Name: "the next save serves again", Run: func(t *testing.T) {
			// A file of the test's own, under a name no project uses.
			harness.WriteFile(t, filepath.Join(p.Dir, "app", "e2e_stop_probe.go"), "package main\n")
			waitHealthy(t)
		}},

		{Name: "stop with a browser's connections open exits 0 within devloop's bound", Run: func(t *testing.T) {
			harness.OpenLingering(t, strings.TrimPrefix(p.URL("dev"), "http://"))
			start := time.Now()
			p.Compose("stop")
			t.Logf("docker compose stop took %s", time.Since(start).Round(time.Millisecond))
			if code := harness.Inspect(t, p.ContainerID("dev"), "{{.State.ExitCode}}"); code != "0" {
				t.Errorf("exit code %s after stop; 137 means Docker killed it at the end of the grace period", code)
			}
			if logs := p.Logs(); !strings.Contains(logs, devloopStoppedByItself) {
				t.Errorf("devloop's last line does not say everything ended by itself within its bound (%q):\n%s", devloopStoppedByItself, logs)
			}
		}},
	}, p)
}
