package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevWatchAndPolling runs the dev service the two other documented ways:
// with AIR_POLL=true in .env (for mounts without file events), and under
// `docker compose up --watch`, where adding a dependency rebuilds the image
// with no manual --build.
func TestDevWatchAndPolling(t *testing.T) {
	t.Parallel()
	p := newDevProject(t)
	writeFile(t, filepath.Join(p.repo, ".env"), "AIR_POLL=true\n")

	buildMu.Lock()
	p.compose("build")
	buildMu.Unlock()
	// The rebuild below moves the tag off this image; compose down --rmi
	// removes only the tagged one.
	firstImage := docker(t, "image", "inspect", "--format", "{{.Id}}", p.name+"-dev")
	t.Cleanup(func() { _, _ = tryCommand(repoRoot, nil, "docker", "image", "rm", "-f", firstImage) })
	ctx, cancel := context.WithCancel(context.Background())
	watch := exec.CommandContext(ctx, "docker", "compose", "-p", p.name, "up", "--watch")
	watch.Dir = p.repo
	watch.Env = append(watch.Environ(), p.env...)
	// Ctrl-C, as a user ends it; compose then stops the containers.
	watch.Cancel = func() error { return watch.Process.Signal(syscall.SIGINT) }
	watch.WaitDelay = 30 * time.Second
	watchLog := filepath.Join(t.TempDir(), "watch.log")
	out, err := os.Create(watchLog)
	if err != nil {
		t.Fatal(err)
	}
	watch.Stdout, watch.Stderr = out, out
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = watch.Wait()
		out.Close()
		if t.Failed() {
			t.Logf("docker compose up --watch:\n%s", readFile(t, watchLog))
		}
	})
	p.waitServes("Hello, World!")

	t.Run("polling picks up an edit", func(t *testing.T) {
		if cmd := inspect(t, p.containerID(), "{{json .Config.Cmd}}"); !strings.Contains(cmd, "-build.poll=true") {
			t.Fatalf("AIR_POLL=true did not reach air: command %s", cmd)
		}
		replaceIn(t, p.handler, `"Hello, World!"`, `"Hello, polled!"`)
		t.Logf("save to new response with polling: %s", p.waitServes("Hello, polled!"))
	})

	t.Run("a new dependency rebuilds the image", func(t *testing.T) {
		before := p.containerID()
		command(t, p.repo, nil, "go", "get", "github.com/google/uuid@v1.6.0")
		replaceIn(t, p.handler, `"github.com/labstack/echo/v4"`, "\"github.com/google/uuid\"\n\t\"github.com/labstack/echo/v4\"")
		replaceIn(t, p.handler, `"Hello, polled!"`, `"Hello, "+uuid.NewSHA1(uuid.NameSpaceURL, []byte("go-webapp")).String()`)
		waitForBody(t, 5*time.Minute, p.url+"/", "Hello, 4d315210-0c19-565d-8d1e-b2aa7c952df8")
		if p.containerID() == before {
			t.Error("the container was not recreated from a rebuilt image")
		}
	})
}
