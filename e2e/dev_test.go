package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"e2e/harness"
	"e2e/load"
)

// devProject is the dev service of compose.yaml on a scratch copy of the
// project, with the marker route (harness.AddMarker): the tests save edits
// to its file and see them served at harness.MarkerPath.
type devProject struct {
	*harness.Project
	marker string // app/zz_e2e_marker.go in the copy
}

// markerText is what the marker route answers at first.
const markerText = "Hello from the e2e marker!"

// newDevProject is the dev service, or with profile debug the debug service.
func newDevProject(t *testing.T, profiles ...string) *devProject {
	repo := harness.CopyRepo(t)
	return &devProject{
		Project: harness.NewProject(t, repo, profiles...),
		marker:  harness.AddMarker(t, repo, markerText),
	}
}

// waitServes waits for the marker route to answer want and returns how long
// that took.
func (p *devProject) waitServes(want string) time.Duration {
	p.TB().Helper()
	return harness.WaitBody(p.TB(), time.Minute, p.URL("dev")+harness.MarkerPath, want)
}

// processes counts, in service's container, the servers ("server"), the
// delves ("dlv") and the builds ("go build"), and returns the listing they
// were counted in.
func (p *devProject) processes(service string) (counts map[string]int, listing string) {
	p.TB().Helper()
	listing = harness.Docker(p.TB(), "top", p.ContainerID(service), "-o", "pid,args")
	counts = map[string]int{}
	for line := range strings.Lines(listing) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch cmd := strings.Join(fields[1:], " "); {
		case serverCommand.MatchString(cmd):
			counts["server"]++
		case strings.HasPrefix(cmd, "dlv exec "):
			counts["dlv"]++
		case strings.Contains(cmd, "go build"):
			counts["go build"]++
		}
	}
	return counts, listing
}

// savesUnderLoad keeps clients requesting the marker route through
// service's published port while it saves n greetings in place of text,
// waiting for each to be served, then a compile error and its fix ("Hello,
// under load!"): every request must get a 200, from the old build or the
// new one.
func (p *devProject) savesUnderLoad(t *testing.T, service, text string, n int, save func(old, new string)) {
	t.Helper()
	url := p.URL(service) + harness.MarkerPath
	serves := func(want string) { harness.WaitBody(t, time.Minute, url, want) }
	drain := harness.UnderLoadAt(t, strings.TrimPrefix(p.URL(service), "http://"), harness.MarkerPath, 4, 100, "", func(gen *load.Generator) {
		for i := 1; i <= n; i++ {
			next := fmt.Sprintf("Hello, under load %d!", i)
			save(strconv.Quote(text), strconv.Quote(next))
			text = next
			serves(text)
			harness.WaitMore(t, gen, 50)
		}
		errors := strings.Count(p.Logs(), "undefined: notDefinedAnywhere")
		save(strconv.Quote(text), strconv.Quote(text)+" + notDefinedAnywhere")
		harness.Eventually(t, time.Minute, "the compile error in the logs", func() (bool, string) {
			return strings.Count(p.Logs(), "undefined: notDefinedAnywhere") > errors, "not yet"
		})
		harness.WaitMore(t, gen, 50)
		save(strconv.Quote(text)+" + notDefinedAnywhere", `"Hello, under load!"`)
		serves("Hello, under load!")
		harness.WaitMore(t, gen, 50)
	}, p.Logs)
	t.Log(drain)
	if drain.RefusedCount() > 0 || len(drain.Lost) > 0 {
		t.Errorf("requests failed during the saves: %s", drain)
	}
}

// serverCommand is a server devloop started: one binary per build.
var serverCommand = regexp.MustCompile(`^/tmp/devloop/builds/\d+/app$`)

// saveBurst saves n greetings ("Hello, <prefix> 1!" to n) 100 ms apart,
// each in place of the one before, the first in place of text; it returns
// the last.
func saveBurst(text, prefix string, n int, save func(old, new string)) string {
	for i := 1; i <= n; i++ {
		next := fmt.Sprintf("Hello, %s %d!", prefix, i)
		save(strconv.Quote(text), strconv.Quote(next))
		text = next
		time.Sleep(100 * time.Millisecond)
	}
	return text
}

// checkStoppedGracefully: after a stop, service's container exited 0 and
// every server it started logged its graceful stop, but for those devloop
// says were halted at a breakpoint (under delve), which cannot drain.
func (p *devProject) checkStoppedGracefully(t *testing.T, service string) {
	t.Helper()
	if code := harness.Inspect(t, p.ContainerID(service), "{{.State.ExitCode}}"); code != "0" {
		t.Errorf("%s container exit code %s after stop; 137 means it ignored SIGTERM and was killed", service, code)
	}
	logs := p.Logs()
	started, stopped, halted := strings.Count(logs, "server started"), strings.Count(logs, "server stopped"), strings.Count(logs, "halted at a breakpoint")
	if started != stopped+halted {
		t.Errorf("%d servers started, %d drained and %d were halted at a breakpoint: not every server shut down gracefully:\n%s",
			started, stopped, halted, logs)
	}
}

// checkOnlyWritten fails t for each file under dir (app/) that was created,
// changed or deleted since before, other than the test's own edits, written.
func checkOnlyWritten(t *testing.T, dir string, before map[string]harness.FileState, written map[string]bool) {
	t.Helper()
	after := harness.TreeState(t, dir)
	for rel, state := range after {
		if old, existed := before[rel]; !written[rel] && (!existed || old != state) {
			t.Errorf("app/%s was created or changed, not by the test", rel)
		}
	}
	for rel := range before {
		if _, ok := after[rel]; !ok {
			t.Errorf("app/%s was deleted", rel)
		}
	}
}

// TestDevLoop walks through a developer's day in the dev container.
func TestDevLoop(t *testing.T) {
	t.Parallel()
	p := newDevProject(t)
	appDir := filepath.Join(p.Dir, "app")
	before := harness.TreeState(t, appDir)
	// What the test itself writes; anything else changed in app/ afterwards
	// was written by the container.
	written := map[string]bool{}
	write := func(t *testing.T, rel, content string) {
		harness.WriteFile(t, filepath.Join(appDir, rel), content)
		written[rel] = true
	}
	edit := func(t *testing.T, rel, old, new string) {
		harness.ReplaceIn(t, filepath.Join(appDir, rel), old, new)
		written[rel] = true
	}
	marker := filepath.Base(p.marker)
	// A package of the test's own, under a name no user's has.
	const newPackage = "zz_e2e_greeting"
	packageImport := fmt.Sprintf("%q", harness.ModulePath(t, p.Dir)+"/app/"+newPackage)
	// The image seeds the module cache, so "nothing downloaded" alone would
	// hold without the volume too: this file shows the volume itself survives.
	const moduleCacheMark = "/go/pkg/mod/cache/written-by-the-first-container"
	var firstID, startedAt string

	harness.RunSteps(t, []harness.Step{
		{Name: "up serves", Run: func(t *testing.T) {
			p.Build()
			p.Compose("up", "-d")
			firstID = p.ContainerID("dev")
			startedAt = harness.Inspect(t, firstID, "{{.State.StartedAt}}")
			t.Logf("first 200 after up: %s", p.waitServes(markerText))
			p.Exec("dev", "touch", moduleCacheMark)
			// The debugger belongs to the debug profile only.
			if top := harness.Docker(t, "top", firstID, "-o", "pid,args"); strings.Contains(top, "dlv") {
				t.Errorf("plain up runs delve:\n%s", top)
			}
			if out, err := harness.Run(t.Context(), p.Dir, p.Env(), "docker", "compose", "port", "dev", "2345"); err == nil && strings.TrimSpace(out) != ":0" {
				t.Errorf("plain up publishes delve's port: %s", out)
			}
		}},

		{Name: "edit is served without a restart", Run: func(t *testing.T) {
			edit(t, marker, fmt.Sprintf("%q", markerText), `"Hello, edited!"`)
			t.Logf("save to new response: %s", p.waitServes("Hello, edited!"))
			if id, at := p.ContainerID("dev"), harness.Inspect(t, firstID, "{{.State.StartedAt}}"); id != firstID || at != startedAt {
				t.Errorf("the container was restarted or replaced to serve the edit")
			}
			// This mount sends events: devloop stays with them.
			if logs := p.Logs(); strings.Contains(logs, noEventsLine) {
				t.Errorf("devloop took a mount with file events for one without:\n%s", logs)
			}
		}},

		{Name: "new package is picked up", Run: func(t *testing.T) {
			write(t, filepath.Join(newPackage, "greeting.go"),
				"package "+strings.ReplaceAll(newPackage, "_", "")+"\n\n// Text is the greeting.\nfunc Text() string { return \"Hello from a new package!\" }\n")
			edit(t, marker, `"github.com/labstack/echo/v4"`, packageImport+"\n\n\t\"github.com/labstack/echo/v4\"")
			edit(t, marker, `"Hello, edited!"`, `zze2egreeting.Text()`)
			p.waitServes("Hello from a new package!")
		}},

		{Name: "compile error keeps the last good build serving", Run: func(t *testing.T) {
			edit(t, marker, `zze2egreeting.Text()`, `zze2egreeting.Text() + notDefinedAnywhere`)
			harness.Eventually(t, time.Minute, "the compiler's message in the logs", func() (bool, string) {
				return strings.Contains(p.Logs(), "undefined: notDefinedAnywhere"), "not yet"
			})
			if running := harness.Inspect(t, firstID, "{{.State.Running}}"); running != "true" {
				t.Fatalf("the container stopped on a compile error")
			}
			p.waitServes("Hello from a new package!")

			// Fixed the way many editors save: a new file renamed over the old.
			fixed := strings.Replace(harness.ReadFile(t, p.marker), `zze2egreeting.Text() + notDefinedAnywhere`, `"Hello, fixed!"`, 1)
			fixed = strings.Replace(fixed, packageImport+"\n\n\t", "", 1)
			harness.SaveAtomically(t, p.marker, fixed)
			p.waitServes("Hello, fixed!")
		}},

		{Name: "a file created in a new directory reloads, and its saves", Run: func(t *testing.T) {
			// The marker embeds a file that is not there yet: the build fails
			// and the last good one serves, until the file appears, with its
			// directory, in one go, as git and `mv` make one appear: a
			// directory written elsewhere, then renamed into app/, so that
			// no watch can be on it before its file is (air's never is).
			const newDir = "zz_e2e_pages"
			write(t, marker, markerEmbedding(newDir+"/page.html"))
			harness.Eventually(t, time.Minute, "the build failing on the missing file", func() (bool, string) {
				return strings.Contains(p.Logs(), "pattern "+newDir+"/page.html: no matching files found"), "not yet"
			})
			staged := filepath.Join(p.Dir, "zz_e2e_staged")
			harness.WriteFile(t, filepath.Join(staged, "page.html"), "Hello from a new directory!")
			if err := os.Rename(staged, filepath.Join(appDir, newDir)); err != nil {
				t.Fatal(err)
			}
			written[newDir+"/page.html"] = true
			t.Logf("new file to its response: %s", p.waitServes("Hello from a new directory!"))
			// A save of the embedded page, as of a template, reloads too.
			edit(t, filepath.Join(newDir, "page.html"), "Hello from a new directory!", "Hello from an edited page!")
			p.waitServes("Hello from an edited page!")
			write(t, marker, harness.MarkerSource("Hello, fixed!"))
			p.waitServes("Hello, fixed!")
		}},

		{Name: "saves under load refuse no request", Run: func(t *testing.T) {
			p.savesUnderLoad(t, "dev", "Hello, fixed!", 5, func(old, new string) { edit(t, marker, old, new) })
		}},

		{Name: "burst of saves ends with one server of the last version", Run: func(t *testing.T) {
			text := saveBurst("Hello, under load!", "burst", 20, func(old, new string) { edit(t, marker, old, new) })
			t.Logf("last save to its response: %s", p.waitServes(text))
			harness.Eventually(t, time.Minute, "exactly one server and no build", func() (bool, string) {
				n, listing := p.processes("dev")
				return n["server"] == 1 && n["go build"] == 0, listing
			})
			p.waitServes(text)
			if logs := p.Logs(); strings.Contains(logs, "address already in use") {
				t.Errorf("a server started before the old one let go of the port:\n%s", logs)
			}
		}},

		{Name: "the container wrote nothing into app", Run: func(t *testing.T) {
			checkOnlyWritten(t, appDir, before, written)
		}},

		{Name: "stop is graceful", Run: func(t *testing.T) {
			start := time.Now()
			p.Compose("stop")
			t.Logf("docker compose stop took %s", time.Since(start).Round(time.Millisecond))
			p.checkStoppedGracefully(t, "dev")
			start = time.Now()
			p.Compose("down")
			t.Logf("docker compose down took %s", time.Since(start).Round(time.Millisecond))
		}},

		{Name: "second up reuses the caches", Run: func(t *testing.T) {
			p.Compose("up", "-d")
			if p.ContainerID("dev") == firstID {
				t.Fatal("down did not remove the container")
			}
			p.waitServes("Hello, burst 20!")
			if out, err := p.TryExec("dev", "test", "-f", moduleCacheMark); err != nil {
				t.Errorf("the module cache did not outlive the first container: %v %s", err, out)
			}
			if logs := p.Logs(); strings.Contains(logs, "go: downloading") {
				t.Errorf("modules were downloaded again:\n%s", logs)
			}
			// A build of the same code compiles nothing: the build cache survived.
			out := p.Exec("dev", "sh", "-c", harness.DevBuild+" -x -o /tmp/cache-probe ./app 2>&1")
			if strings.Contains(out, "/compile ") {
				t.Errorf("go build compiled packages again after down/up:\n%s", out)
			}
		}},
	}, p.Project)
}

// markerEmbedding is the marker's file answering with the content of file
// (relative to app/), embedded.
func markerEmbedding(file string) string {
	return `package main

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

//go:embed ` + file + `
var zzE2EPage string

func zzE2EMarker(c echo.Context) error {
	return c.String(http.StatusOK, zzE2EPage)
}
`
}

// TestMakeDebugBesideTheDevService: `make debug` while the project's dev
// service runs (they publish the same port) stops at once with one line
// saying what to do, and leaves no container behind, Created or otherwise.
func TestMakeDebugBesideTheDevService(t *testing.T) {
	t.Parallel()
	p := newDevProject(t, "debug")
	// One port for both, as a user has it: the default HOST_PORT, or .env's.
	port := freePort(t)
	env := append(p.Env(), fmt.Sprintf("HOST_PORT=%d", port))
	p.Build()
	harness.Command(t, p.Dir, env, "docker", "compose", "up", "-d", "dev")
	p.waitServes(markerText)

	out, err := harness.Run(t.Context(), p.Dir, env, "make", "debug")
	if err == nil {
		t.Fatalf("make debug beside the running dev service succeeded:\n%s", out)
	}
	var said []string
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "make debug: ") {
			said = append(said, line)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], "docker compose stop dev") {
		t.Errorf("want one line saying the dev service runs and how to stop it; make debug said:\n%s", out)
	}
	noDebugContainer := func(when string) {
		t.Helper()
		if created := harness.Docker(t, "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+p.Name, "--filter", "label=com.docker.compose.service=debug"); created != "" {
			t.Errorf("make debug %s left a debug container (%s): %s", when, harness.Inspect(t, created, "{{.State.Status}}"), created)
		}
	}
	noDebugContainer("beside the dev service")
	p.waitServes(markerText) // the dev service goes on serving

	// Something else on the port: Docker creates the container, then fails
	// to publish the port; make debug fails, and removes what it created.
	harness.Command(t, p.Dir, env, "docker", "compose", "stop", "dev")
	other, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("holding the port the dev service let go: %v", err)
	}
	defer other.Close()
	if out, err := harness.Run(t.Context(), p.Dir, env, "make", "debug"); err == nil {
		t.Fatalf("make debug with its port held by another program succeeded:\n%s", out)
	}
	noDebugContainer("with its port held by another program")
}
