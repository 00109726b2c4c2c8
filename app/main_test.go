package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer that run's logger and the test may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until cond holds; the deadline only bounds a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRun runs the program on a free port, with env added to its
// environment, and returns its address, its stdout, and a channel with run's
// result.
func startRun(t *testing.T, ctx context.Context, env map[string]string) (addr string, stdout *syncBuffer, done <-chan error) {
	t.Helper()
	port := strconv.Itoa(freePort(t))
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	env["PORT"] = port
	stdout = &syncBuffer{}
	result := make(chan error, 1)
	go func() {
		result <- run(ctx, []string{"go-webapp"}, func(k string) string { return env[k] }, stdout, io.Discard)
	}()
	addr = "127.0.0.1:" + port
	waitFor(t, "GET /healthz to answer 200", func() bool {
		select {
		case err := <-result:
			t.Fatalf("run returned before serving: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr, stdout, result
}

func TestRunServesAndDrainsInFlightRequestOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, stdout, done := startRun(t, ctx, nil)
	// Whatever GET / says (yours, not the sample's), in full.
	want := getBody(t, "http://"+addr+"/")

	// A request whose body is still arriving: the handler has answered, but
	// net/http reads the rest of a small body before it sends the response,
	// so the request is in flight until the client finishes it.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello")
	waitFor(t, "the request to reach the handler", func() bool { return strings.Count(stdout.String(), `"msg":"request"`) == 2 })

	cancel()
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("run returned %v while a request was in flight", err)
	default:
	}

	fmt.Fprintf(conn, "world")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("in-flight request got %s %q, want 200 %q", resp.Status, body, want)
	}
	if err := <-done; err != nil {
		t.Errorf("run returned %v, want nil", err)
	}
	if !strings.Contains(stdout.String(), "server stopped") {
		t.Errorf("no 'server stopped' line in logs:\n%s", stdout.String())
	}
}

// TestRunDrainsBeforeShuttingDown: once its context ends, run reports not
// ready and keeps serving for DRAIN_DELAY, closing each connection after its
// response, and only then stops accepting.
func TestRunDrainsBeforeShuttingDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Long enough for the checks below on a slow machine; the test waits it out.
	addr, _, done := startRun(t, ctx, map[string]string{"DRAIN_DELAY": "3s"})
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s while draining: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	if resp, _ := get("/readyz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz before the drain: %s, want 200", resp.Status)
	}
	_, want := get("/")

	cancel()
	waitFor(t, "/readyz to report draining", func() bool {
		resp, _ := get("/readyz")
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	resp, body := get("/")
	if resp.StatusCode != http.StatusOK || body != want {
		t.Errorf("GET / while draining: %s %q, want 200 %q as before", resp.Status, body, want)
	}
	if !resp.Close {
		t.Error("a response while draining kept its connection open; want Connection: close")
	}
	if err := <-done; err != nil {
		t.Errorf("run returned %v, want nil", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the server still accepts connections after run returned")
	}
}

func TestHealthcheckFlag(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, done := startRun(t, ctx, nil)
	_, port, _ := net.SplitHostPort(addr)

	check := func() error {
		env := map[string]string{"PORT": port}
		return run(context.Background(), []string{"go-webapp", "-healthcheck"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}
	if err := check(); err != nil {
		t.Errorf("-healthcheck against a live server: %v, want nil (exit 0)", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if err := check(); err == nil {
		t.Error("-healthcheck with no server returned nil, want an error (exit 1)")
	}
}

func TestVersionFlag(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "abc1234", "2026-01-02T03:04:05Z"

	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"go-webapp", "-version"}, func(string) string { return "" }, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "go-webapp v1.2.3 (commit abc1234, built 2026-01-02T03:04:05Z)\n"; stdout.String() != want {
		t.Errorf("-version printed %q, want %q", stdout.String(), want)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "bad port", args: []string{"go-webapp"}, env: map[string]string{"PORT": "abc"}, wantErr: `PORT="abc"`},
		{name: "unknown flag", args: []string{"go-webapp", "-nope"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// getBody is the body of a 200 answer to GET url.
func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %q %v", url, resp.Status, body, err)
	}
	return string(body)
}
