package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"e2e/harness"
)

// TestRunnerDrainsUnderLoad: with requests in flight all the time, docker
// stop lets every request the server accepted finish, and the container exits
// 0 inside the grace period.
func TestRunnerDrainsUnderLoad(t *testing.T) {
	t.Parallel()
	c := harness.StartContainer(t, makeImage(t, "prod"), nil)
	harness.WaitBody(t, 30*time.Second, c.URL+harness.MarkerPath, prodMarker)

	drain, took := harness.StopUnderLoadAt(t, c, harness.MarkerPath, 32, 2000, prodMarker)
	t.Logf("docker stop took %s; %s", took.Round(time.Millisecond), drain)
	if drain.Accepted < 2000 {
		t.Errorf("the server logged only %d requests", drain.Accepted)
	}
	if len(drain.Lost) > 0 {
		t.Errorf("%d accepted requests lost their response under docker stop", len(drain.Lost))
	}
	if code := c.Inspect("{{.State.ExitCode}}"); code != "0" {
		t.Errorf("exit code %s after docker stop under load, want 0", code)
	}
}

// TestRunnerWithstandsHostileInput sends the runner what a hostile or broken
// client would; every answer is a proper HTTP error and the server goes on.
// (A panicking handler is covered in app/middleware_test.go: that route
// exists only in tests.)
func TestRunnerWithstandsHostileInput(t *testing.T) {
	t.Parallel()
	c := harness.StartContainer(t, makeImage(t, "prod"), nil)
	harness.WaitBody(t, 30*time.Second, c.URL+harness.MarkerPath, prodMarker)

	// Each at the marker route, a GET-only route of the test's own: the
	// project's own routes may take any method or path.
	const route = harness.MarkerPath
	tests := []struct {
		name       string
		request    string
		wantStatus int
		wantJSON   bool
	}{
		{"unknown path", "GET " + route + "/no/such/path HTTP/1.1\r\nHost: x\r\n\r\n", 404, true},
		{"wrong method", "DELETE " + route + " HTTP/1.1\r\nHost: x\r\n\r\n", 405, true},
		// 100 MB announced, 5 bytes sent: the answer comes without the body.
		{"body over the limit", "POST " + route + " HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nhello", 413, true},
		{"malformed request line", "GARBAGE\r\n\r\n", 400, false},
		{"header over the limit", "GET " + route + " HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431, false},
		{"URL over the limit", "GET " + route + "?q=" + strings.Repeat("a", 9<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := rawExchange(t, c.Addr, tt.request)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d (body %.80q)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantJSON && (resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"message":`)) {
				t.Errorf("want a small JSON error body, got %s %.80q", resp.Header.Get("Content-Type"), body)
			}
		})
	}

	t.Run("headers one byte at a time are cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", c.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
		closed := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(conn) // returns when the server closes
			closed <- err
		}()
		header := "GET " + route + " HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 100)
		for i := 0; ; i++ {
			select {
			case <-closed:
				t.Logf("server closed the connection after %d header bytes", i)
				return
			case <-time.After(500 * time.Millisecond):
			}
			if i == len(header) {
				t.Fatal("the server waited for the whole slow header")
			}
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				t.Logf("server closed the connection after %d header bytes", i)
				return
			}
		}
	})

	if running := c.Inspect("{{.State.Running}} {{.RestartCount}}"); running != "true 0" {
		t.Errorf("after hostile input: running, restarts = %s", running)
	}
	harness.WaitBody(t, 10*time.Second, c.URL+route, prodMarker)
}

// rawExchange sends request bytes on a new connection and returns the
// response the server gave, or the error reading it.
func rawExchange(t *testing.T, addr, request string) (*http.Response, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(conn), nil)
}

// TestComposeProdProfile: `make prod-up` runs the image `make prod` built
// locked down with compose (profile prod), on the image name and port that
// .env gives, and does not start the dev service.
func TestComposeProdProfile(t *testing.T) {
	t.Parallel()
	p := harness.NewProject(t, harness.CopyRepo(t), "prod")
	harness.AddMarker(t, p.Dir, prodMarker)
	image := harness.UniqueName("go-webapp-e2e-produp-")
	t.Cleanup(func() { removeImages(image) })
	port := freePort(t)
	// One way to name the image and the port, as the README gives it: .env.
	harness.WriteFile(t, filepath.Join(p.Dir, ".env"), fmt.Sprintf("IMAGE=%s\nHOST_PORT=%d\n", image, port))
	env := []string{"COMPOSE_PROJECT_NAME=" + p.Name} // not p.Env(): its HOST_PORT would win over .env's
	harness.Build(t, p.Dir, env, "make", "prod-up")

	if addr := p.Addr("prod", 1323); addr != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Errorf("prod-up published on %s, want .env's HOST_PORT %d", addr, port)
	}
	if runs := harness.Inspect(t, p.ContainerID("prod"), "{{.Config.Image}}"); runs != image+":latest" {
		t.Errorf("prod-up runs %s, want the image make prod built, %s:latest", runs, image)
	}
	if got := strings.TrimSpace(harness.Command(t, p.Dir, env, "make", "-s", "print-HOST_PORT")); got != strconv.Itoa(port) {
		t.Errorf("make run-prod would publish on %s, want .env's %d", got, port)
	}
	status, body, err := harness.Get(p.URL("prod") + harness.MarkerPath)
	if err != nil || status != 200 || body != prodMarker {
		t.Fatalf("GET %s = %d %q %v", harness.MarkerPath, status, body, err)
	}
	if services := strings.Fields(p.Compose("ps", "--services")); !slices.Equal(services, []string{"prod"}) {
		t.Errorf("running services %v, want only prod", services)
	}
	got := harness.Inspect(t, p.ContainerID("prod"), "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} "+
		"{{.HostConfig.RestartPolicy.Name}} {{.Config.StopTimeout}} {{.State.Health.Status}} {{.Config.User}}")
	if want := "true [ALL] [no-new-privileges:true] unless-stopped 10 healthy 65532:65532"; got != want {
		t.Errorf("prod container: %s, want %s", got, want)
	}
	if limits := harness.Inspect(t, p.ContainerID("prod"), "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"); slices.Contains(strings.Fields(limits), "0") {
		t.Errorf("memory and CPU limits = %s, want both set", limits)
	}
	// A log that cannot fill the disk.
	if logs := harness.Inspect(t, p.ContainerID("prod"), "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}} {{index .HostConfig.LogConfig.Config \"max-file\"}}"); logs != "json-file 10m 3" {
		t.Errorf("log driver and options %q, want json-file 10m 3: a bounded log", logs)
	}
	harness.Command(t, p.Dir, env, "make", "prod-down")
	if out := p.Compose("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("make prod-down left containers: %s", out)
	}
}

// freePort is a port of 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSecretsStayOut plants a .env, a key and a .git directory in a copy of
// the repository: none reaches the build context or any layer of the images.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	repo := harness.CopyRepo(t)
	secret := harness.UniqueName("planted-secret-")
	for _, f := range []string{".env", "server.pem", ".git/config", "app/.env.local", "app/id.key"} {
		harness.WriteFile(t, filepath.Join(repo, f), "SECRET="+secret+"\n")
	}

	// What the builder receives: the context, after .dockerignore.
	ctxDir := t.TempDir()
	script := fmt.Sprintf("docker buildx build -f - --output type=local,dest=%s . <<'EOF'\nFROM scratch\nCOPY . /\nEOF", ctxDir)
	harness.Command(t, repo, nil, "sh", "-c", script)
	context := harness.TreeState(t, ctxDir)
	for rel, file := range context {
		if strings.Contains(file.Content, secret) {
			t.Errorf("%s reaches the build context", rel)
		}
	}
	t.Logf("build context: %v", slices.Sorted(maps.Keys(context)))

	// What the images hold, every layer.
	image := harness.UniqueName("go-webapp-e2e-secrets-")
	p := harness.NewProject(t, repo)
	t.Cleanup(func() { removeImages(image) })
	harness.Build(t, repo, nil, "make", "prod", "IMAGE="+image, "VERSION=secrets")
	p.Build()
	for _, ref := range []string{image + ":latest", p.Name + "-dev"} {
		if streamContains(t, []byte(secret), "docker", "save", ref) {
			t.Errorf("a layer of %s holds the planted secret", ref)
		}
	}
}

// streamContains runs a command and tells whether needle occurs in its
// output, without holding all of it (an image tarball) in memory.
func streamContains(t *testing.T, needle []byte, name string, args ...string) bool {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := false
	buf := make([]byte, 0, 1<<20+len(needle))
	chunk := make([]byte, 1<<20)
	for {
		n, err := out.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if bytes.Contains(buf, needle) {
			found = true
		}
		// Keep a tail as long as the needle, for a match across chunks.
		if len(buf) > len(needle) {
			buf = append(buf[:0], buf[len(buf)-len(needle):]...)
		}
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return found
}
