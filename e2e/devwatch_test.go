package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"e2e/harness"
	"e2e/load"
)

// newModule is a module to add, with a use of it whose answer is known.
type newModule struct {
	module, version string
	imports         []string // the module's package, and what expr needs besides
	expr, want      string
}

// newModules are modules a project is unlikely to import: the dependency
// step adds the first one the project does not require already.
var newModules = []newModule{
	{"github.com/rs/xid", "v1.6.0", []string{"github.com/rs/xid"}, `xid.NilID().String()`, "00000000000000000000"},
	{"github.com/cespare/xxhash/v2", "v2.3.0", []string{"fmt", "github.com/cespare/xxhash/v2"}, `fmt.Sprint(xxhash.Sum64String(""))`, "17241709254077376921"},
}

// markerUsing is the marker's file answering m.expr.
func markerUsing(m newModule) string {
	imports := ""
	for _, path := range m.imports {
		imports += fmt.Sprintf("\t%q\n", path)
	}
	return `package main

import (
	"net/http"

` + imports + `
	"github.com/labstack/echo/v4"
)

func zzE2EMarker(c echo.Context) error {
	return c.String(http.StatusOK, ` + m.expr + `)
}
`
}

// TestDevWatchAndPolling runs the dev service the two other documented ways:
// with AIR_POLL=true in .env (for mounts without file events), and under
// `docker compose up --watch`; there adding a dependency (go get and go mod
// tidy on the host, using it in app/) is a save: served by the same
// container, with no request refused, the module downloaded once into the
// module volume.
func TestDevWatchAndPolling(t *testing.T) {
	t.Parallel()
	p := newDevProject(t)
	harness.WriteFile(t, filepath.Join(p.Dir, ".env"), "AIR_POLL=true\n")
	p.Build()
	p.RunInBackground("up", "--watch")
	p.waitServes(markerText)

	harness.RunSteps(t, []harness.Step{
		{Name: "polling picks up an edit", Run: func(t *testing.T) {
			// On this mount events would do as well: what shows the setting
			// took is devloop's line (its unit tests show the polling).
			if logs := p.Logs(); strings.Count(logs, "polling for changes from the start (AIR_POLL=true)") != 1 {
				t.Fatalf("AIR_POLL=true in .env: devloop did not say once that it polls:\n%s", logs)
			}
			harness.ReplaceIn(t, p.marker, fmt.Sprintf("%q", markerText), `"Hello, polled!"`)
			t.Logf("save to new response with polling: %s", p.waitServes("Hello, polled!"))
		}},

		{Name: "a new dependency is a save: same container, nothing refused", Run: func(t *testing.T) {
			required := harness.Command(t, p.Dir, nil, "go", "list", "-m", "all")
			i := slices.IndexFunc(newModules, func(m newModule) bool {
				return !strings.Contains(required, m.module+" ")
			})
			if i < 0 {
				t.Fatalf("the project requires every module of newModules already: add one it does not")
			}
			m := newModules[i]
			id := p.ContainerID("dev")
			startedAt := harness.Inspect(t, id, "{{.State.StartedAt}}")
			addr := strings.TrimPrefix(p.URL("dev"), "http://")
			drain := harness.UnderLoadAt(t, addr, harness.MarkerPath, 4, 100, "", func(gen *load.Generator) {
				// The import first, then go get and go mod tidy: the build
				// fails until go.mod has the module, so what serves the new
				// answer is a save of go.mod and go.sum, not one under app/.
				harness.WriteFile(t, p.marker, markerUsing(m))
				harness.Eventually(t, time.Minute, "the build failing on the missing module", func() (bool, string) {
					return strings.Contains(p.Logs(), "no required module provides package "+m.module), "not yet"
				})
				harness.Command(t, p.Dir, nil, "go", "get", m.module+"@"+m.version)
				harness.Command(t, p.Dir, nil, "go", "mod", "tidy")
				t.Logf("save to the new module's answer: %s", p.waitServes(m.want))
				harness.WaitMore(t, gen, 50)
			}, p.Logs)
			t.Log(drain)
			if drain.RefusedCount() > 0 || len(drain.Lost) > 0 {
				t.Errorf("requests failed while the dependency was added: %s", drain)
			}
			if p.ContainerID("dev") != id || harness.Inspect(t, id, "{{.State.StartedAt}}") != startedAt {
				t.Error("the container was recreated or restarted for the new dependency")
			}
			// Downloaded by the container, into the volume, and only once: a
			// build of the same code downloads nothing.
			if !strings.Contains(p.Logs(), "go: downloading "+m.module+" "+m.version) {
				t.Errorf("the dev container's log does not show %s downloaded", m.module)
			}
			if out, err := p.TryExec("dev", "test", "-d", "/go/pkg/mod/"+m.module+"@"+m.version); err != nil {
				t.Errorf("%s is not in the module volume: %v %s", m.module, err, out)
			}
			if out := p.Exec("dev", "sh", "-c", harness.DevBuild+" -o /tmp/download-probe ./app 2>&1"); strings.Contains(out, "downloading") {
				t.Errorf("a second build downloaded again:\n%s", out)
			}
		}},

		{Name: "the module list is read-only in the container", Run: func(t *testing.T) {
			for _, file := range []string{"go.mod", "go.sum"} {
				if out, err := p.TryExec("dev", "sh", "-c", "echo >> /src/"+file); err == nil {
					t.Errorf("the dev container could write %s: %s", file, out)
				}
			}
		}},

		{Name: "go.mod replaced on the host: devloop says what to do", Run: func(t *testing.T) {
			// As git switch or an editor's safe write does: the mount
			// keeps the old file, which the container goes on reading.
			goMod := filepath.Join(p.Dir, "go.mod")
			harness.SaveAtomically(t, goMod, harness.ReadFile(t, goMod))
			harness.Eventually(t, time.Minute, "devloop's line on the replaced go.mod", func() (bool, string) {
				return strings.Contains(p.Logs(), "go.mod was replaced on the host"), "not yet"
			})
			if logs := p.Logs(); !strings.Contains(logs, "docker compose up -d --force-recreate dev") {
				t.Errorf("devloop's line does not say what to do:\n%s", logs)
			}
		}},
	}, p.Project)
}
