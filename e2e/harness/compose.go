package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DevBuild is devloop's build of ./app (goBuild in devloop/server.go), for a
// shell in the dev container (DEV_GCFLAGS is set there); append -o and the
// package. A build with other flags compiles differently and would miss
// devloop's cache.
const DevBuild = `go build -gcflags="$DEV_GCFLAGS" -ldflags=-w`

// Project is a docker compose project of the repository's compose.yaml, run
// in dir (a scratch copy, see CopyRepo) under a unique project name. Its
// services publish on ports of 127.0.0.1 that Docker picks (HOST_PORT=0,
// DEBUG_PORT=0); URL and Addr read them back.
type Project struct {
	reporter // the test, or the step of it, it reports to (RunSteps)
	Dir      string
	Name     string
	profiles []string
}

// NewProject returns the project; when the test ends it shows the logs if
// the test failed, then removes containers of every profile, volumes and
// the images it built (down -v --rmi local), also when the test failed, and
// fails the test if a container is left.
func NewProject(t TB, dir string, profiles ...string) *Project {
	t.Helper()
	p := &Project{reporter: reporter{t}, Dir: dir, Name: UniqueName("go-webapp-e2e-"), profiles: profiles}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := Run(context.Background(), p.Dir, p.Env(), "docker", p.args("logs", "--no-color")...)
			t.Logf("compose logs of %s:\n%s", p.Name, logs)
		}
		// --profile '*': every service the test started, whatever its
		// profile (a test of make debug starts dev too).
		if out, err := Run(context.Background(), p.Dir, p.Env(), "docker", "compose", "--profile", "*", "down", "-v", "--rmi", "local"); err != nil {
			t.Errorf("compose down -v: %v\n%s", err, out)
		}
		// A test that starts a service of another profile than the
		// project's (dev beside debug) must not leave it behind.
		left, _ := Run(context.Background(), "", nil, "docker", "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+p.Name)
		if left = strings.TrimSpace(left); left != "" {
			t.Errorf("compose down -v left containers of %s: %s", p.Name, strings.Join(strings.Fields(left), " "))
		}
	})
	return p
}

// Env is what every command of the project runs with: compose, and make
// targets that call compose, read the project name and port from it.
func (p *Project) Env() []string {
	return []string{"COMPOSE_PROJECT_NAME=" + p.Name, "HOST_PORT=0", "DEBUG_PORT=0"}
}

func (p *Project) args(args ...string) []string {
	all := []string{"compose"}
	for _, profile := range p.profiles {
		all = append(all, "--profile", profile)
	}
	return append(all, args...)
}

// Compose runs docker compose with args and returns its output.
func (p *Project) Compose(args ...string) string {
	p.t.Helper()
	return Command(p.t, p.Dir, p.Env(), "docker", p.args(args...)...)
}

// Command runs another command (make prod-up, say) in the project.
func (p *Project) Command(name string, args ...string) string {
	p.t.Helper()
	return Command(p.t, p.Dir, p.Env(), name, args...)
}

// Build builds the project's images, one build at a time (see Build).
func (p *Project) Build() {
	p.t.Helper()
	Build(p.t, p.Dir, p.Env(), "docker", p.args("build")...)
}

// Logs returns the logs of every service, or what compose said instead.
func (p *Project) Logs() string {
	out, _ := Run(context.Background(), p.Dir, p.Env(), "docker", p.args("logs", "--no-color")...)
	return out
}

// TryExec runs a command in service's container and returns its output and
// error, for commands whose failure is the answer.
func (p *Project) TryExec(service string, command ...string) (string, error) {
	return Run(p.t.Context(), p.Dir, p.Env(), "docker", p.args(append([]string{"exec", "-T", service}, command...)...)...)
}

// Exec runs a command in service's container; a failure ends the test.
func (p *Project) Exec(service string, command ...string) string {
	p.t.Helper()
	return p.Compose(append([]string{"exec", "-T", service}, command...)...)
}

// ContainerID is the id of service's container, stopped or not; empty when
// there is none.
func (p *Project) ContainerID(service string) string {
	p.t.Helper()
	return strings.TrimSpace(p.Compose("ps", "-a", "-q", service))
}

// URL is http://127.0.0.1:<port> where service's port 1323 is published
// now; it waits for the container, which `up --watch` may still be creating.
func (p *Project) URL(service string) string {
	p.t.Helper()
	return "http://" + p.Addr(service, 1323)
}

// Addr is 127.0.0.1:<port> where service's port is published now.
func (p *Project) Addr(service string, port int) string {
	p.t.Helper()
	var addr string
	Eventually(p.t, 5*time.Minute, fmt.Sprintf("%s's published port %d", service, port), func() (bool, string) {
		out, err := Run(p.t.Context(), p.Dir, p.Env(), "docker", p.args("port", service, strconv.Itoa(port))...)
		if err != nil {
			return false, out
		}
		addr = strings.TrimSpace(out)
		return strings.HasPrefix(addr, "127.0.0.1:"), out
	})
	return addr
}

// RunInBackground starts docker compose with args (up --watch, say) and
// leaves it running; at the end of the test it gets Ctrl-C, as from a user,
// and its output is shown if the test failed.
func (p *Project) RunInBackground(args ...string) {
	t := p.t // the cleanup belongs to the test that started it
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "docker", p.args(args...)...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env()...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 30 * time.Second
	logFile := filepath.Join(t.TempDir(), "compose.log")
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatalf("%v", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("docker %s: %v", strings.Join(cmd.Args[1:], " "), err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logFile)
			t.Logf("docker %s:\n%s", strings.Join(cmd.Args[1:], " "), data)
		}
	})
}
