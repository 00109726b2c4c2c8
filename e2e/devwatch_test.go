package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"e2e/harness"
)

// TestDevWatchAndPolling runs the dev service the two other documented ways:
// with AIR_POLL=true in .env (for mounts without file events), and under
// `docker compose up --watch`, where adding a dependency rebuilds the image
// with no manual --build.
func TestDevWatchAndPolling(t *testing.T) {
	t.Parallel()
	p := newDevProject(t)
	harness.WriteFile(t, filepath.Join(p.Dir, ".env"), "AIR_POLL=true\n")
	p.Build()
	// The rebuild below moves the tag off this image; compose down --rmi
	// removes only the tagged one.
	firstImage := harness.Inspect(t, p.Name+"-dev", "{{.Id}}")
	t.Cleanup(func() { _, _ = harness.Run(context.Background(), "", nil, "docker", "image", "rm", "-f", firstImage) })
	p.RunInBackground("up", "--watch")
	p.waitServes("Hello, World!")

	harness.RunSteps(t, []harness.Step{
		{Name: "polling picks up an edit", Run: func(t *testing.T) {
			// On this mount events would do as well: what shows the setting
			// took is devloop's line (its unit tests show the polling).
			if logs := p.Logs(); strings.Count(logs, "polling for changes from the start (AIR_POLL=true)") != 1 {
				t.Fatalf("AIR_POLL=true in .env: devloop did not say once that it polls:\n%s", logs)
			}
			harness.ReplaceIn(t, p.handler, `"Hello, World!"`, `"Hello, polled!"`)
			t.Logf("save to new response with polling: %s", p.waitServes("Hello, polled!"))
		}},

		{Name: "a new dependency rebuilds the image", Run: func(t *testing.T) {
			before := p.ContainerID("dev")
			harness.Command(t, p.Dir, nil, "go", "get", "github.com/google/uuid@v1.6.0")
			harness.ReplaceIn(t, p.handler, `"github.com/labstack/echo/v4"`, "\"github.com/google/uuid\"\n\t\"github.com/labstack/echo/v4\"")
			harness.ReplaceIn(t, p.handler, `"Hello, polled!"`, `"Hello, "+uuid.NewSHA1(uuid.NameSpaceURL, []byte("go-webapp")).String()`)
			// The recreated container publishes on a new port: URL reads it again.
			harness.Eventually(t, 5*time.Minute, "the rebuilt image's answer", func() (bool, string) {
				_, body, err := harness.Get(p.URL("dev") + "/")
				return err == nil && body == "Hello, 4d315210-0c19-565d-8d1e-b2aa7c952df8", body
			})
			if p.ContainerID("dev") == before {
				t.Error("the container was not recreated from a rebuilt image")
			}
		}},
	}, p.Project)
}
