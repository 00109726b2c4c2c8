package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"e2e/load"
)

// devProject is a `docker compose` project of the dev service, run on a
// temporary copy of the repository with a unique name and a free HOST_PORT.
type devProject struct {
	t       *testing.T
	repo    string
	name    string
	url     string
	env     []string
	handler string // app/handlers.go in the copy
}

func newDevProject(t *testing.T) *devProject {
	repo := copyRepo(t)
	port := strconv.Itoa(freePort(t))
	p := &devProject{
		t:       t,
		repo:    repo,
		name:    uniqueName("go-webapp-e2e-"),
		url:     "http://127.0.0.1:" + port,
		env:     []string{"HOST_PORT=" + port},
		handler: filepath.Join(repo, "app", "handlers.go"),
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("compose logs:\n%s", p.logs())
		}
		out, err := tryCommand(repo, p.env, "docker", "compose", "-p", p.name, "down", "-v", "--rmi", "local")
		if err != nil {
			t.Errorf("compose down -v: %v\n%s", err, out)
		}
	})
	return p
}

func (p *devProject) compose(args ...string) string {
	p.t.Helper()
	return command(p.t, p.repo, p.env, "docker", append([]string{"compose", "-p", p.name}, args...)...)
}

func (p *devProject) logs() string {
	out, _ := tryCommand(p.repo, p.env, "docker", "compose", "-p", p.name, "logs", "--no-color")
	return out
}

func (p *devProject) containerID() string {
	p.t.Helper()
	return strings.TrimSpace(p.compose("ps", "-a", "-q", "dev"))
}

// waitServes waits for GET / to answer want and returns how long that took.
func (p *devProject) waitServes(want string) time.Duration {
	p.t.Helper()
	start := time.Now()
	waitForBody(p.t, time.Minute, p.url+"/", want)
	return time.Since(start)
}

// appProcesses counts the server processes in the container and tells
// whether a build is still under way.
func (p *devProject) appProcesses() (servers int, building bool, listing string) {
	p.t.Helper()
	listing = docker(p.t, "top", p.containerID(), "-o", "pid,args")
	for line := range strings.Lines(listing) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch cmd := strings.Join(fields[1:], " "); {
		case cmd == "/tmp/air/app":
			servers++
		case strings.Contains(cmd, "go build"), strings.Contains(cmd, "dev-run"):
			building = true
		}
	}
	return servers, building, listing
}

// TestDevLoop walks through a developer's day in the dev container, in order:
// each step starts from the state the previous one left.
func TestDevLoop(t *testing.T) {
	t.Parallel()
	p := newDevProject(t)
	appDir := filepath.Join(p.repo, "app")
	before := treeState(t, appDir)
	// What the test itself writes; anything else changed in app/ afterwards
	// was written by the container.
	written := map[string]bool{}
	edit := func(rel, old, new string) {
		replaceIn(t, filepath.Join(appDir, rel), old, new)
		written[rel] = true
	}

	buildMu.Lock()
	p.compose("build")
	buildMu.Unlock()
	p.compose("up", "-d")
	firstID := p.containerID()
	startedAt := inspect(t, firstID, "{{.State.StartedAt}}")
	t.Logf("first 200 after up: %s", p.waitServes("Hello, World!"))
	// The image seeds the module cache, so "nothing downloaded" alone would
	// hold without the volume too: this file shows the volume itself survives.
	const moduleCacheMark = "/go/pkg/mod/cache/written-by-the-first-container"
	p.compose("exec", "-T", "dev", "touch", moduleCacheMark)

	t.Run("edit is served without a restart", func(t *testing.T) {
		edit("handlers.go", `"Hello, World!"`, `"Hello, edited!"`)
		t.Logf("save to new response: %s", p.waitServes("Hello, edited!"))
		if id, at := p.containerID(), inspect(t, firstID, "{{.State.StartedAt}}"); id != firstID || at != startedAt {
			t.Errorf("the container was restarted or replaced to serve the edit")
		}
	})

	t.Run("new package is picked up", func(t *testing.T) {
		writeFile(t, filepath.Join(appDir, "greeting", "greeting.go"),
			"package greeting\n\n// Text is the greeting.\nfunc Text() string { return \"Hello from a new package!\" }\n")
		written[filepath.Join("greeting", "greeting.go")] = true
		edit("handlers.go", `"github.com/labstack/echo/v4"`,
			fmt.Sprintf("%q\n\n\t\"github.com/labstack/echo/v4\"", modulePath(t, p.repo)+"/app/greeting"))
		edit("handlers.go", `"Hello, edited!"`, `greeting.Text()`)
		p.waitServes("Hello from a new package!")
	})

	t.Run("compile error keeps the last good build serving", func(t *testing.T) {
		edit("handlers.go", `greeting.Text()`, `greeting.Text() + notDefinedAnywhere`)
		eventually(t, time.Minute, "the compiler's message in the logs", func() (bool, string) {
			return strings.Contains(p.logs(), "undefined: notDefinedAnywhere"), "not yet"
		})
		if running := inspect(t, firstID, "{{.State.Running}}"); running != "true" {
			t.Fatalf("the container stopped on a compile error")
		}
		p.waitServes("Hello from a new package!")

		// Fixed the way many editors save: a new file renamed over the old.
		fixed := strings.Replace(readFile(t, p.handler), `greeting.Text() + notDefinedAnywhere`, `"Hello, fixed!"`, 1)
		fixed = strings.Replace(fixed, fmt.Sprintf("%q\n\n\t", modulePath(t, p.repo)+"/app/greeting"), "", 1)
		saveAtomically(t, p.handler, fixed)
		p.waitServes("Hello, fixed!")
	})

	t.Run("reload under load drains", func(t *testing.T) {
		gen := load.Start(strings.TrimPrefix(p.url, "http://"), "/", 16, "")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := gen.WaitOK(ctx, 300); err != nil {
			gen.Stop()
			t.Fatal(err)
		}
		edit("handlers.go", `"Hello, fixed!"`, `"Hello, under load!"`)
		p.waitServes("Hello, under load!")
		err := gen.WaitOK(ctx, gen.OK()+300)
		result := gen.Stop()
		if err != nil {
			t.Fatal(err)
		}
		logged := load.LoggedIDs(p.logs())
		lost := result.Lost(logged)
		t.Logf("server answered %d requests, clients got %d in full, %d lost; failures before a server accepted: %v",
			len(logged), len(result.OK), len(lost), result.Failed)
		if len(lost) > 0 {
			t.Errorf("%d accepted requests lost their response in the reload, e.g. %v", len(lost), lost[:min(len(lost), 10)])
		}
	})

	t.Run("burst of saves ends with one server of the last version", func(t *testing.T) {
		text := "Hello, under load!"
		for i := 1; i <= 20; i++ {
			next := fmt.Sprintf("Hello, burst %d!", i)
			edit("handlers.go", strconv.Quote(text), strconv.Quote(next))
			text = next
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("last save to its response: %s", p.waitServes(text))
		eventually(t, time.Minute, "exactly one server and no build", func() (bool, string) {
			servers, building, listing := p.appProcesses()
			return servers == 1 && !building, listing
		})
		p.waitServes(text)
		if logs := p.logs(); strings.Contains(logs, "address already in use") {
			t.Errorf("a server started before the old one let go of the port:\n%s", logs)
		}
	})

	t.Run("the container wrote nothing into app", func(t *testing.T) {
		after := treeState(t, appDir)
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
	})

	t.Run("stop is graceful", func(t *testing.T) {
		start := time.Now()
		p.compose("stop")
		t.Logf("docker compose stop took %s", time.Since(start).Round(time.Millisecond))
		if code := inspect(t, firstID, "{{.State.ExitCode}}"); code != "0" {
			t.Errorf("dev container exit code %s after stop; 137 means it ignored SIGTERM and was killed", code)
		}
		logs := p.logs()
		if !strings.Contains(logs, "server stopped") {
			t.Errorf("the app did not shut down gracefully:\n%s", logs)
		}
		start = time.Now()
		p.compose("down")
		t.Logf("docker compose down took %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("second up reuses the caches", func(t *testing.T) {
		p.compose("up", "-d")
		if p.containerID() == firstID {
			t.Fatal("down did not remove the container")
		}
		p.waitServes("Hello, burst 20!")
		if out, err := tryCommand(p.repo, p.env, "docker", "compose", "-p", p.name, "exec", "-T", "dev", "test", "-f", moduleCacheMark); err != nil {
			t.Errorf("the module cache did not outlive the first container: %v %s", err, out)
		}
		if logs := p.logs(); strings.Contains(logs, "go: downloading") {
			t.Errorf("modules were downloaded again:\n%s", logs)
		}
		// A build of the same code compiles nothing: the build cache survived.
		// The flags are docker/dev-run's: -w changes how packages compile.
		out := p.compose("exec", "-T", "dev", "go", "build", "-x", "-ldflags=-w", "-o", "/tmp/cache-probe", "./app")
		if strings.Contains(out, "/compile ") {
			t.Errorf("go build compiled packages again after down/up:\n%s", out)
		}
	})
}
