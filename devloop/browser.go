package main

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The browser half of the loop. Every HTML page through the front gets a
// reference to one small script (inject.go), which devloop serves itself
// from a reserved path, along with an event stream: when a new build takes
// over the front, every open page reloads; when a save does not compile,
// or its build exits before it serves, every open page shows the output in
// an overlay until a save that serves. Clients that are not browsers get a
// header instead: the answer comes from an older build. DEVLOOP_BROWSER=off
// turns all of it off, and the front passes every response as the app sent
// it.

// reservedPath is the front's own: requests under it never reach the app.
// One path, so that a page under `Content-Security-Policy: default-src
// 'self'` may load the script and open the stream (no inline script).
const reservedPath = "/__devloop/"

const (
	scriptPath = reservedPath + "client.js"
	eventsPath = reservedPath + "events"
	// scriptTag is the one element added to a page. Its URL never changes:
	// a page the browser revalidates (304) keeps the one it has, and that
	// must still be right.
	scriptTag = `<script src="` + scriptPath + `"></script>`
	// staleHeader is on every response through the front while the newest
	// save has no build serving.
	staleHeader = "Devloop-Stale"
)

//go:embed browser.js
var script []byte

// browsers is what the front and the loop tell the open pages. Its methods
// do nothing on a nil *browsers: DEVLOOP_BROWSER=off.
type browsers struct {
	log      *slog.Logger
	instance string // this devloop's: a page connected to a restarted container reloads
	// A path that starts with the directory the compiler's paths are
	// relative to (/src/): a line's start, or after a space, a quote, a
	// parenthesis or an equals sign (a panic's frames, a log's source).
	// Not any "/src/": the Go toolchain's own files are under
	// /usr/local/go/src/.
	repo *regexp.Regexp

	mu         sync.Mutex
	serving    int           // the build the front sends requests to; 0 before the first
	switchedAt time.Time     // when it took over
	broken     *failure      // the newest build, when it failed; nil once one serves
	nextFailed chan struct{} // closed at the next failure, then replaced
	streams    map[chan pageEvent]struct{}
	closed     bool

	passedOnce sync.Once
}

// failure is a build that did not take over, as an overlay shows it.
type failure struct {
	Build   int    `json:"build"`
	Serving int    `json:"serving"` // the build that serves meanwhile; 0: none
	Title   string `json:"title"`
	Output  string `json:"output"` // file:line: message, as the repository names the file
}

// pageEvent is one message of the stream: its name and its JSON data.
type pageEvent struct {
	name string
	data []byte
}

func newBrowsers(logger *slog.Logger, repo string) *browsers {
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	return &browsers{
		log:      logger,
		instance: hex.EncodeToString(id),
		repo:     regexp.MustCompile(`(?m)(^|[\s"'(=])` + regexp.QuoteMeta(strings.TrimSuffix(repo, "/")+"/")),
		streams:  map[chan pageEvent]struct{}{},

		nextFailed: make(chan struct{}),
	}
}

// attach puts b in front of f's responses, and ends the event streams when
// f shuts down: a stream never ends by itself, and the front's drain would
// wait for it.
func (b *browsers) attach(f *front) {
	if b == nil {
		return
	}
	f.browser = b
	f.server.RegisterOnShutdown(b.close)
}

// buildID names a build across devloop restarts.
func (b *browsers) buildID(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%s-%d", b.instance, n)
}

// switched says build n took over the front: every page reloads, and the
// overlay of a failed build goes with it.
func (b *browsers) switched(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.serving, b.switchedAt, b.broken = n, time.Now(), nil
	b.broadcast("reload", map[string]any{"build": b.buildID(n)})
}

// failed says build n did not take over: it did not compile (output is the
// compiler's), or it exited before it served (output is its last lines).
// Paths under the repository become relative to it, as the developer names
// the file: /src/app/handlers.go:12 is app/handlers.go:12.
func (b *browsers) failed(n int, title, output string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken = &failure{Build: n, Serving: b.serving, Title: title, Output: b.repo.ReplaceAllString(output, "$1")}
	b.broadcast("failure", b.broken)
	close(b.nextFailed)
	b.nextFailed = make(chan struct{})
}

// exited is failed for a server that exited before it served, with the
// last lines it wrote and its exit status.
func (b *browsers) exited(n int, s server, status string) {
	if b == nil {
		return
	}
	output := status
	if t, ok := s.(*tailedServer); ok {
		output = t.tail.lines() + "\n" + status
	}
	b.failed(n, fmt.Sprintf("build %d exited before it served", n), output)
}

// broadcast sends an event to every stream; one too slow to take it is
// ended, and its page reconnects to the state as it is then.
func (b *browsers) broadcast(name string, v any) {
	data, _ := json.Marshal(v)
	for stream := range b.streams {
		select {
		case stream <- pageEvent{name, data}:
		default:
			delete(b.streams, stream)
			close(stream)
		}
	}
}

// close ends every stream and refuses new ones: the front is shutting down.
func (b *browsers) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for stream := range b.streams {
		delete(b.streams, stream)
		close(stream)
	}
}

// owns says whether r is for devloop's reserved path rather than the app.
func (b *browsers) owns(r *http.Request) bool {
	return b != nil && strings.HasPrefix(r.URL.Path, reservedPath)
}

// ServeHTTP answers the reserved path: the script and the event stream.
func (b *browsers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case scriptPath:
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache") // a new devloop may bring a new script
		http.ServeContent(w, r, "client.js", time.Time{}, strings.NewReader(string(script)))
	case eventsPath:
		b.stream(w, r)
	default:
		http.Error(w, "devloop: nothing here; paths under "+reservedPath+" are devloop's own", http.StatusNotFound)
	}
}

// streamPing keeps an idle stream's connection from being taken for dead.
const streamPing = 30 * time.Second

// stream is one page's event stream (server-sent events). Its first event,
// hello, is the state as it is: the build serving, when it took over, and
// a failure, if any, so that a page opened while the build is broken shows
// it at once, and a page that reconnects after a restart reloads.
func (b *browsers) stream(w http.ResponseWriter, r *http.Request) {
	events := make(chan pageEvent, 8)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		http.Error(w, "devloop is stopping", http.StatusServiceUnavailable)
		return
	}
	b.streams[events] = struct{}{}
	hello, _ := json.Marshal(map[string]any{
		"build": b.buildID(b.serving), "switchedAt": b.switchedAt.UnixMilli(), "failure": b.broken,
	})
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.streams[events]; ok {
			delete(b.streams, events)
			close(events)
		}
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	flush := http.NewResponseController(w).Flush
	// retry: how soon a browser reconnects after the stream ends (a
	// container restart).
	if writeEvent(w, pageEvent{"hello", hello}, "retry: 500\n") != nil || flush() != nil {
		return
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		select {
		case e, open := <-events:
			if !open {
				return
			}
			if writeEvent(w, e, "") != nil || flush() != nil {
				return
			}
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

func writeEvent(w io.Writer, e pageEvent, prefix string) error {
	_, err := fmt.Fprintf(w, "%sevent: %s\ndata: %s\n\n", prefix, e.name, e.data)
	return err
}

// modifyResponse is the front's hook on every response of the app: the
// stale-build header while the newest save has no build serving, and the
// script in each page.
func (b *browsers) modifyResponse(resp *http.Response) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	broken := b.broken
	b.mu.Unlock()
	if broken != nil && broken.Serving != 0 {
		resp.Header.Set(staleHeader, fmt.Sprintf("build %d answered; the newest, build %d, %s",
			broken.Serving, broken.Build, strings.TrimPrefix(broken.Title, fmt.Sprintf("build %d ", broken.Build))))
	}
	ok, whyNot := injectable(resp)
	if whyNot != "" {
		b.passedOnce.Do(func() {
			b.log.Info("an HTML page passed without devloop's script: it reloads by hand", "uri", resp.Request.URL.RequestURI(), "why", whyNot)
		})
	}
	if ok {
		inject(resp, scriptTagFor(resp.Header))
	}
	return nil
}

// answerWithoutBuild answers a browser's request for a page when no build
// has served yet and the newest failed (a first `up` with code that does
// not compile), with a page whose script shows the failure and reloads once
// a build serves; it says whether it answered. Other requests wait for the
// first build, as the front has them do.
func (b *browsers) answerWithoutBuild(w http.ResponseWriter, r *http.Request) bool {
	if b == nil || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return false
	}
	b.mu.Lock()
	broken := b.broken != nil && b.serving == 0
	b.mu.Unlock()
	if !broken {
		return false
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, "<!doctype html>\n<html><head><title>devloop: no build serves yet</title></head>\n"+
		"<body><p>devloop: no build serves yet. This page reloads by itself once a save compiles and serves.</p>"+
		scriptTag+"</body></html>\n")
	return true
}

// firstBuildFailed, for a browser's request for a page that waits for the
// first build, is closed when that build fails, for answerWithoutBuild to
// answer it: on a first `up` whose code does not compile, a tab opened
// while it compiled shows the failure at once. Other requests get nil
// (never ready): they wait for a build.
func (b *browsers) firstBuildFailed(r *http.Request) <-chan struct{} {
	if b == nil || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.broken != nil && b.serving == 0 {
		return alreadyClosed
	}
	return b.nextFailed
}

var alreadyClosed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// capture starts each server with its output kept as well, the last lines
// of which a failure shows when it exits before it serves.
func (b *browsers) capture(l launcher) func(bin string) (server, error) {
	if b == nil {
		return l.start
	}
	return func(bin string) (server, error) {
		t := &tail{}
		own := l
		own.stdout, own.stderr = io.MultiWriter(l.stdout, t), io.MultiWriter(l.stderr, t)
		s, err := own.start(bin)
		if err != nil {
			return nil, err
		}
		return &tailedServer{server: s, tail: t}, nil
	}
}

// tailedServer is a server whose output's end is kept.
type tailedServer struct {
	server
	tail *tail
}

// tail keeps the end of what is written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const (
	tailBytes = 16 << 10
	tailLines = 30
)

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailBytes {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

// lines is the last tailLines lines written.
func (t *tail) lines() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(t.buf), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-tailLines):], "\n")
}

// workingDir is where devloop runs go build: the compiler's paths are
// relative to it, and a panic's absolute paths start with it.
func workingDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return "/src"
	}
	return dir
}
