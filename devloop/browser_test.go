package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pageStream is a page's event stream, read as a browser's EventSource
// reads it.
type pageStream struct {
	t      *testing.T
	events chan [2]string // name, data
}

func openStream(t *testing.T, url string) *pageStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+eventsPath, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("events: %s, %s", resp.Status, ct)
	}
	s := &pageStream{t: t, events: make(chan [2]string, 16)}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		var name string
		scanner := bufio.NewScanner(resp.Body)
		for scanner.Scan() {
			line := scanner.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				s.events <- [2]string{name, v}
			}
		}
	}()
	return s
}

// next is the next event, which must be called name; its data is decoded
// into v.
func (s *pageStream) next(name string, v any) {
	s.t.Helper()
	select {
	case e, open := <-s.events:
		if !open {
			s.t.Fatalf("the stream ended; want %s", name)
		}
		if e[0] != name {
			s.t.Fatalf("event %s %s; want %s", e[0], e[1], name)
		}
		if err := json.Unmarshal([]byte(e[1]), v); err != nil {
			s.t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		s.t.Fatalf("no %s event", name)
	}
}

type hello struct {
	Build      string   `json:"build"`
	SwitchedAt int64    `json:"switchedAt"`
	Failure    *failure `json:"failure"`
}

func TestReservedPathNeverReachesTheApp(t *testing.T) {
	var reached atomic.Int32
	_, _, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "app")
	})
	status, body, ct := fetch(t, url+scriptPath)
	if status != http.StatusOK || body != string(script) || !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("the script: %d %s %.40q", status, ct, body)
	}
	if status, _, _ := fetch(t, url+reservedPath+"anything-else"); status != http.StatusNotFound {
		t.Errorf("an unknown reserved path: %d, want 404 from devloop", status)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests for the reserved path reached the app", n)
	}
	if _, body, _ := fetch(t, url+"/__devloop"); body != "app" {
		t.Errorf("a path beside the reserved one did not reach the app: %q", body)
	}
}

// A page of another site open in the same browser must not read the
// compiler's output (or the app's last lines): the reserved path answers
// without CORS headers, so the browser keeps its answers from that page.
func TestReservedPathIsNotForOtherOrigins(t *testing.T) {
	_, b, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*") // the app's own choice, for its own routes
	})
	b.failed(1, "build 1 did not compile", "app/secret.go:1:1: syntax error")
	for _, path := range []string{eventsPath, scriptPath} {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
		req.Header.Set("Origin", "https://elsewhere.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		for name := range resp.Header {
			if strings.HasPrefix(name, "Access-Control-") {
				t.Errorf("%s answers another origin with %s: %s", path, name, resp.Header.Get(name))
			}
		}
		resp.Body.Close()
		cancel()
	}
}

func fetch(t *testing.T, url string) (status int, body, contentType string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), resp.Header.Get("Content-Type")
}

func TestPagesAreToldOfEachSwitchAndFailure(t *testing.T) {
	_, b, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {})
	page := openStream(t, url)
	var h hello
	page.next("hello", &h)
	if h.Build != "" || h.Failure != nil {
		t.Errorf("before any build: %+v", h)
	}

	b.switched(1)
	var reload struct{ Build string }
	page.next("reload", &reload)
	if reload.Build != b.buildID(1) || reload.Build == "" {
		t.Errorf("reload for %q, want build 1's id %q", reload.Build, b.buildID(1))
	}

	b.failed(2, "build 2 did not compile", "# example.com/app\napp/handlers.go:12:9: undefined: foo\n\t/src/app/main.go:7 +0x1d\n"+
		"\t/usr/local/go/src/runtime/proc.go:283 +0x28\n{\"source\":\"/src/app/main.go:9\"}\n")
	var f failure
	page.next("failure", &f)
	want := failure{Build: 2, Serving: 1, Title: "build 2 did not compile",
		Output: "# example.com/app\napp/handlers.go:12:9: undefined: foo\n\tapp/main.go:7 +0x1d\n" +
			"\t/usr/local/go/src/runtime/proc.go:283 +0x28\n{\"source\":\"app/main.go:9\"}\n"} // the toolchain's own paths as they are
	if f != want {
		t.Errorf("failure %+v\nwant %+v (paths as the repository names them)", f, want)
	}

	// A page opened while the build is broken is told at once.
	late := openStream(t, url)
	late.next("hello", &h)
	if h.Build != b.buildID(1) || h.Failure == nil || *h.Failure != want {
		t.Errorf("a page opened after the failure got %+v", h)
	}

	b.switched(3)
	for _, s := range []*pageStream{page, late} {
		s.next("reload", &reload)
		if reload.Build != b.buildID(3) {
			t.Errorf("reload for %q, want build 3", reload.Build)
		}
	}
	openStream(t, url).next("hello", &h)
	if h.Failure != nil || h.Build != b.buildID(3) {
		t.Errorf("after a build that serves, a new page got %+v", h)
	}
}

// A page from a container that restarted since reloads: the build it
// knows is not this devloop's.
func TestBuildIDsDifferAcrossRestarts(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if a, b := newBrowsers(logger, "/src").buildID(1), newBrowsers(logger, "/src").buildID(1); a == b {
		t.Errorf("two devloops name their first build alike: %s", a)
	}
}

func TestStaleHeaderWhileTheNewestSaveHasNoBuildServing(t *testing.T) {
	_, b, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	stale := func() string {
		t.Helper()
		resp, err := http.Get(url + "/api")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get(staleHeader)
	}
	b.switched(1)
	if got := stale(); got != "" {
		t.Errorf("with the newest build serving: %s: %s", staleHeader, got)
	}
	b.failed(2, "build 2 did not compile", "app/handlers.go:3:1: syntax error")
	if got, want := stale(), "build 1 answered; the newest, build 2, did not compile"; got != want {
		t.Errorf("after a compile error: %s: %q, want %q", staleHeader, got, want)
	}
	b.switched(3)
	if got := stale(); got != "" {
		t.Errorf("after a save that serves: %s: %s", staleHeader, got)
	}
}

// DEVLOOP_BROWSER=off: the front is the plain proxy it was.
func TestBrowserOffPassesEverythingAsTheAppSentIt(t *testing.T) {
	const page = "<html><body>x</body></html>"
	app := answering(t, page)
	f, url := startFront(t)
	var off *browsers
	off.attach(f)
	f.switchTo(app)
	off.failed(2, "build 2 did not compile", "x")
	for _, path := range []string{"/", scriptPath} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != page || resp.Header.Get(staleHeader) != "" {
			t.Errorf("GET %s with the browser half off: %q %v", path, body, resp.Header)
		}
	}
}

// The streams never end by themselves; the front's drain must not wait
// for them.
func TestShutdownEndsThePagesStreams(t *testing.T) {
	f, _, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {})
	page := openStream(t, url)
	var h hello
	page.next("hello", &h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.server.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a page's stream open: %v", err)
	}
	if _, open := <-page.events; open {
		t.Errorf("the stream goes on after shutdown")
	}
}

// failingBuilder fails every build with the compiler's messages.
type failingBuilder struct{ messages string }

func (b failingBuilder) build(ctx context.Context, out string) error {
	return &buildError{err: errors.New("exit status 1"), messages: b.messages}
}

// The loop tells the pages what it tells the log: a build that does not
// compile with the compiler's messages, one that exits before it serves
// with its last lines, and each switch.
func TestLoopTellsThePages(t *testing.T) {
	b := newBrowsers(slog.New(slog.NewTextHandler(io.Discard, nil)), "/src")
	var builder builder = failingBuilder{messages: "# example.com/app\napp/handlers.go:12:9: undefined: foo\n"}
	var exitErr error
	toldBeforeTheSwitch := 0
	l := &loop{
		builder: builderFunc(func(ctx context.Context, out string) error {
			if err := builder.build(ctx, out); err != nil {
				return err
			}
			return os.WriteFile(out, []byte("app"), 0o644)
		}),
		launch: func(bin string) (server, error) {
			t := &tail{}
			io.WriteString(t, "starting\npanic: no config\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/app/main.go:10 +0x1d\n")
			return &tailedServer{server: &fakeServer{version: bin, exitErr: exitErr, stopped: make(chan struct{}), done: make(chan struct{})}, tail: t}, nil
		},
		dir:   t.TempDir(),
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		drain: time.Hour, // a fake server drains at once
		// The pages reload only once the front sends requests to the new
		// build: when it switches, they must not have been told yet.
		serving: func(server) {
			b.mu.Lock()
			defer b.mu.Unlock()
			toldBeforeTheSwitch = b.serving
		},
		browser: b,
	}
	defer l.stop(context.Background())
	broken := func() failure {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.broken == nil {
			return failure{}
		}
		return *b.broken
	}
	never := make(chan struct{})

	l.reload(t.Context(), never)
	if got := broken(); got.Build != 1 || !strings.Contains(got.Output, "app/handlers.go:12:9: undefined: foo") {
		t.Errorf("after a compile error the pages were told %+v", got)
	}

	builder, exitErr = builderFunc(func(context.Context, string) error { return nil }), errors.New("exited: exit status 2")
	l.reload(t.Context(), never)
	if got := broken(); got.Build != 2 || got.Title != "build 2 exited before it served" ||
		!strings.Contains(got.Output, "panic: no config") || !strings.Contains(got.Output, "\tapp/main.go:10") {
		t.Errorf("after a build that exited before it served the pages were told %+v", got)
	}

	exitErr = nil
	l.reload(t.Context(), never)
	if got := broken(); got != (failure{}) || b.serving != 3 {
		t.Errorf("after a build that serves: failure %+v, serving %d; want none, 3", got, b.serving)
	}
	if toldBeforeTheSwitch != 0 {
		t.Errorf("the pages were told to reload for build %d before the front switched to it", toldBeforeTheSwitch)
	}
}

type builderFunc func(ctx context.Context, out string) error

func (f builderFunc) build(ctx context.Context, out string) error { return f(ctx, out) }

// A first `up` whose build does not compile: a browser asking for a page
// gets one that shows the failure, rather than waiting for a build.
func TestAPageWithNoBuildYetShowsTheFailure(t *testing.T) {
	f, url := startFront(t)
	b := newBrowsers(f.log, "/src")
	b.attach(f)
	b.failed(1, "build 1 did not compile", "app/handlers.go:3:1: syntax error")
	// Bounds a broken run only: a request that waits, waits two minutes.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), scriptTag) {
		t.Errorf("a page asked for with no build yet: %s %q; want 503 with the script", resp.Status, body)
	}
	page := openStream(t, url)
	var h hello
	page.next("hello", &h)
	if h.Failure == nil || h.Failure.Output != "app/handlers.go:3:1: syntax error" {
		t.Errorf("its stream said %+v", h)
	}
}

// The last lines a server wrote before it exited come with the failure.
func TestCaptureKeepsTheLastLinesOfAServerThatExits(t *testing.T) {
	bin := t.TempDir() + "/app"
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho starting\necho 'panic: no config' >&2\necho '\t/src/app/main.go:10 +0x1d' >&2\nexit 2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBrowsers(slog.New(slog.NewTextHandler(io.Discard, nil)), "/src")
	start := b.capture(launcher{stdout: io.Discard, stderr: io.Discard})
	s, err := start(bin)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Wait(t.Context())
	if err == nil {
		t.Fatal("the server that exits was taken to serve")
	}
	b.exited(1, s, exitStatus(s.Err()))
	// Its standard output and error come through two pipes: their lines
	// may interleave either way.
	out := b.broken.Output
	for _, line := range []string{"starting\n", "panic: no config\n\tapp/main.go:10 +0x1d\n", "exit status 2"} {
		if !strings.Contains(out, line) {
			t.Errorf("the failure says %q; want the server's last lines (%q), paths as the repository names them", out, line)
		}
	}
}

func TestDevloopBrowserSetting(t *testing.T) {
	for value, want := range map[string]bool{"": true, "on": true, "off": false} {
		cfg, err := loadConfig(func(name string) string {
			if name == "DEVLOOP_BROWSER" {
				return value
			}
			return ""
		})
		if err != nil || cfg.Browser != want {
			t.Errorf("DEVLOOP_BROWSER=%q: browser %v, %v; want %v", value, cfg.Browser, err, want)
		}
	}
	if _, err := loadConfig(func(name string) string {
		if name == "DEVLOOP_BROWSER" {
			return "false"
		}
		return ""
	}); err == nil {
		t.Errorf("DEVLOOP_BROWSER=false was taken: a setting devloop does not understand must say so")
	}
}

// A first `up` whose build fails while a browser's request for a page waits
// for it: the page shows the failure then, rather than after the front's
// two minutes of waiting.
func TestAPageWaitingForTheFirstBuildShowsItsFailure(t *testing.T) {
	f, url := startFront(t)
	b := newBrowsers(f.log, "/src")
	b.attach(f)
	waiting := make(chan struct{}, 1)
	f.waiting = func() { waiting <- struct{}{} }
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
	req.Header.Set("Accept", "text/html,*/*;q=0.8")
	answered := make(chan string, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answered <- resp.Status + " " + string(body)
	}()
	<-waiting // the request is with the front, and no build serves yet
	b.failed(1, "build 1 did not compile", "app/handlers.go:3:1: syntax error")
	if got := <-answered; !strings.HasPrefix(got, "503") || !strings.Contains(got, scriptTag) {
		t.Errorf("a page waiting for the first build, which failed: %.80q; want 503 with the script", got)
	}
}
