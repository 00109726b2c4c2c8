package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"e2e/harness"
)

// devloopStoppedByItself is devloop's last line when the way out ended
// within its bound, nothing killed (devloop/main.go, wayOut).
const devloopStoppedByItself = "stopped: everything ended by itself within the bound"

// TestStopWithLingeringConnections: what a browser tab leaves open on the
// dev server (an idle keep-alive connection, a preconnected socket, a
// half-sent request) does not hold up `docker compose stop`: the container
// exits 0 by itself, and devloop's last line says that everything ended
// within its bound, so neither devloop's bound nor Docker's grace period
// (compose.yaml's stop_grace_period) had to cut anything off. The time it
// takes is in `make bench` (section 5).
func TestStopWithLingeringConnections(t *testing.T) {
	t.Parallel()
	p := harness.NewProject(t, harness.CopyRepo(t))
	p.Build()
	p.Compose("up", "-d")
	url := p.URL("dev")
	harness.Eventually(t, 5*time.Minute, "GET /healthz to answer 200", func() (bool, string) {
		status, body, err := harness.Get(url + "/healthz")
		return err == nil && status == http.StatusOK, body
	})
	harness.OpenLingering(t, strings.TrimPrefix(url, "http://"))

	start := time.Now()
	p.Compose("stop")
	t.Logf("docker compose stop took %s", time.Since(start).Round(time.Millisecond))
	id := p.ContainerID("dev")
	if code := harness.Inspect(t, id, "{{.State.ExitCode}}"); code != "0" {
		t.Errorf("exit code %s after stop; 137 means Docker killed it at the end of the grace period", code)
	}
	if logs := p.Logs(); !strings.Contains(logs, devloopStoppedByItself) {
		t.Errorf("devloop's last line does not say everything ended by itself within its bound (%q):\n%s", devloopStoppedByItself, logs)
	}
}
