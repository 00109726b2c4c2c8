package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startFront serves a front on a port of loopback and returns its URL.
func startFront(t testing.TB) (*front, string) {
	t.Helper()
	f := newFront(slog.New(slog.NewTextHandler(io.Discard, nil)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.serve(l)
	t.Cleanup(f.close)
	return f, "http://" + l.Addr().String()
}

// backendServer is an httptest server as the front sees a build's server.
type backendServer struct {
	*httptest.Server
	done chan struct{}
	err  error
}

func (s *backendServer) Addr() string               { return strings.TrimPrefix(s.URL, "http://") }
func (s *backendServer) DebugAddr() string          { return "" }
func (s *backendServer) Wait(context.Context) error { return nil }
func (s *backendServer) Stop(context.Context) error { s.Close(); return nil }
func (s *backendServer) Done() <-chan struct{}      { return s.done }
func (s *backendServer) Err() error                 { return s.err }

// exit closes the server as a process that exits with err would.
func (s *backendServer) exit(err error) {
	s.CloseClientConnections()
	s.Close()
	s.err = err
	close(s.done)
}

// serving is a backend running handler.
func serving(t testing.TB, handler http.HandlerFunc) *backendServer {
	s := &backendServer{Server: httptest.NewServer(handler), done: make(chan struct{})}
	t.Cleanup(s.Close)
	return s
}

// answering is a backend that answers every request with body.
func answering(t testing.TB, body string) *backendServer {
	return serving(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
}

func get(t testing.TB, client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(body), err
}

func TestFrontRequestsBeforeTheFirstBuildWaitForIt(t *testing.T) {
	f, url := startFront(t)
	waiting := make(chan struct{}, 1)
	f.waiting = func() { waiting <- struct{}{} }
	got := make(chan string, 1)
	go func() {
		body, err := get(t, http.DefaultClient, url)
		if err != nil {
			body = err.Error()
		}
		got <- body
	}()
	<-waiting // the request is with the front, and no build serves yet
	f.switchTo(answering(t, "first"))
	if body := <-got; body != "first" {
		t.Fatalf("a request made before the first build got %q", body)
	}
}

// TestFrontSwitchUnderLoadFailsNoRequest: clients on keep-alive
// connections, which Go's client would retry on failure, so retries are off
// (a fresh transport per client, requests with a body are never retried:
// POST).
func TestFrontSwitchUnderLoadFailsNoRequest(t *testing.T) {
	f, url := startFront(t)
	old := answering(t, "old")
	f.switchTo(old)
	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}}
			for ctx.Err() == nil {
				// POST: a client never retries it, so a failure shows.
				resp, err := client.Post(url, "text/plain", strings.NewReader("x"))
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	// Each switch under load: some requests answered since the one before.
	underLoad := func() {
		since := ok.Load() + failed.Load()
		eventually(t, "more requests answered", func() bool { return ok.Load()+failed.Load() >= since+16 })
	}
	for i := range 20 {
		underLoad()
		next := answering(t, fmt.Sprint("build ", i))
		f.switchTo(next)
		// The old build drains as the loop has it: once the front no
		// longer uses it. Close waits for its requests, then closes its
		// connections, as the app's Shutdown does.
		f.waitUnused(context.Background(), old, time.Second)
		old.Close()
		old = next
	}
	underLoad()
	cancel()
	wg.Wait()
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed across 20 switches, %d succeeded; first failure: %v", failed.Load(), ok.Load(), firstErr.Load())
	}
	if body, err := get(t, http.DefaultClient, url); err != nil || body != "build 19" {
		t.Fatalf("after the switches: %q %v", body, err)
	}
}

// TestFrontRequestPickingAServerAsItIsLetGoGoesToTheNext: a request that
// read the current server just before a switch, and is counted against it
// only after waitUnused let go of it, must not go there (that server is
// draining, or gone): the count says so, and the request takes the new one.
func TestFrontRequestPickingAServerAsItIsLetGoGoesToTheNext(t *testing.T) {
	f, url := startFront(t)
	old, next := answering(t, "old"), answering(t, "next")
	f.switchTo(old)
	picked, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.picked = func() {
		once.Do(func() {
			close(picked)
			<-proceed
		})
	}
	got := make(chan string, 1)
	go func() {
		body, err := get(t, &http.Client{Transport: &http.Transport{}}, url)
		if err != nil {
			body += err.Error()
		}
		got <- body
	}()
	<-picked // it read the old server as the current one
	f.switchTo(next)
	f.waitUnused(context.Background(), old, time.Second)
	old.Close() // its drain
	close(proceed)
	if body := <-got; body != "next" {
		t.Fatalf("a request that picked the old server as it was let go of got %q; want the next server's answer", body)
	}
}

// TestFrontWaitUnusedEndsWithTheWayOutsBound: a request in flight holds
// waitUnused up to its max, but not past its ctx (the way out's bound, a
// second signal).
func TestFrontWaitUnusedEndsWithTheWayOutsBound(t *testing.T) {
	f, url := startFront(t)
	arrived, finish := make(chan struct{}), make(chan struct{})
	old := serving(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-finish
	})
	t.Cleanup(func() { close(finish) })
	f.switchTo(old)
	go func() { _, _ = get(t, &http.Client{Transport: &http.Transport{}}, url) }()
	<-arrived
	f.switchTo(answering(t, "next"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	returnsPromptly(t, "waitUnused with its ctx ended", func() { f.waitUnused(ctx, old, time.Hour) })
}

// TestFrontServerThatExitedIs502NamingItsExitStatus: the 502 of a server
// that died says how, and where to look.
func TestFrontServerThatExitedIs502NamingItsExitStatus(t *testing.T) {
	f, url := startFront(t)
	gone := answering(t, "gone")
	f.switchTo(gone)
	gone.exit(errors.New("exit status 3"))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "exit status 3") || !strings.Contains(string(body), "container's log") {
		t.Fatalf("got %d %q; want 502 naming the exit status and where to look", resp.StatusCode, body)
	}
}

// TestFrontClientThatCancelsIsNoServerFailure: a client that goes away
// before its answer is not logged as a server that did not answer.
func TestFrontClientThatCancelsIsNoServerFailure(t *testing.T) {
	var log syncBuffer
	f := newFront(slog.New(slog.NewTextHandler(&log, nil)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.serve(l)
	t.Cleanup(f.close)
	arrived := make(chan struct{})
	slow := serving(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // the front gave up on it, as its client did
	})
	f.switchTo(slow)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+l.Addr().String(), nil)
	go func() {
		<-arrived
		cancel()
	}()
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a cancelled request got an answer")
	}
	b := f.current.Load()
	eventually(t, "the front to be done with the request", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.requests == 0
	})
	if strings.Contains(log.String(), "did not answer") {
		t.Fatalf("a client's cancel was logged as the server's failure:\n%s", log.String())
	}
}

func TestFrontKeepsTheClientsHostHeader(t *testing.T) {
	f, url := startFront(t)
	s := serving(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Host) })
	f.switchTo(s)
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = "shop.localhost:1323"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "shop.localhost:1323" {
		t.Fatalf("the app saw Host %q", body)
	}
}

// TestFrontShutdownClosesWhatCarriesNoRequestAtOnce: on the way out, an
// idle keep-alive connection, a preconnected socket with nothing sent and
// a half-sent request are closed at once, while a request being answered
// gets its whole answer; shutdown then returns, with no bound needed.
func TestFrontShutdownClosesWhatCarriesNoRequestAtOnce(t *testing.T) {
	f, url := startFront(t)
	inFlight, finish := make(chan struct{}), make(chan struct{})
	f.switchTo(serving(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(inFlight)
			<-finish
		}
		io.WriteString(w, "answered")
	}))
	addr := strings.TrimPrefix(url, "http://")
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	idle := dial()
	if _, err := io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	idleReader := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleReader, nil); err != nil {
		t.Fatal(err)
	} else if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	preconnected := dial()
	halfSent := dial()
	if _, err := io.WriteString(halfSent, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	answer := make(chan string, 1)
	go func() {
		body, err := get(t, &http.Client{Transport: &http.Transport{}}, url+"/slow")
		answer <- body + fmt.Sprint(err)
	}()
	<-inFlight
	eventually(t, "the front to know of the preconnected and the half-sent connection", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.clients) == 4
	})

	f.mu.Lock()
	clients := slices.Collect(maps.Values(f.clients))
	f.mu.Unlock()
	shutdownDone := make(chan struct{})
	go func() { defer close(shutdownDone); f.shutdown(context.Background()) }()
	for name, r := range map[string]io.Reader{"idle keep-alive": idleReader, "preconnected": preconnected, "half-sent": halfSent} {
		closedAtOnce(t, clients, name, r)
	}
	select {
	case <-shutdownDone:
		t.Fatal("shutdown returned with a request still being answered")
	default:
	}
	close(finish)
	if got := <-answer; got != "answered<nil>" {
		t.Errorf("the request being answered as the front stopped got %q", got)
	}
	<-shutdownDone
}

// closedAtOnce fails t unless the front itself closes the connection r
// reads: Go's Shutdown also closes a connection that sent nothing, but
// only after 5 s, which is what closing at once is for.
func closedAtOnce(t *testing.T, conns []*clientConn, name string, r io.Reader) {
	t.Helper()
	eventually(t, "the front to close the "+name+" connection", func() bool {
		for _, c := range conns {
			c.mu.Lock()
			open := !c.closed && !c.answering
			c.mu.Unlock()
			if open {
				return false
			}
		}
		return true
	})
	if _, err := io.ReadAll(r); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("%s connection: %v", name, err)
	}
}

// TestFrontShutdownLeavesTheServerNothingToWaitFor: after the front's
// shutdown, a server's own Shutdown finds no connection of the front's
// still open, also that of a request in flight when shutdown began, idle
// in the front's pool once answered.
func TestFrontShutdownLeavesTheServerNothingToWaitFor(t *testing.T) {
	f, url := startFront(t)
	var conns atomic.Int64
	arrived, finish := make(chan struct{}), make(chan struct{})
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-finish
		io.WriteString(w, "ok")
	}))
	hs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	f.switchTo(&backendServer{Server: hs, done: make(chan struct{})})
	answered := make(chan error, 1)
	go func() {
		_, err := get(t, &http.Client{Transport: &http.Transport{}}, url)
		answered <- err
	}()
	<-arrived
	shutdownDone := make(chan struct{})
	go func() { defer close(shutdownDone); f.shutdown(context.Background()) }()
	close(finish)
	if err := <-answered; err != nil {
		t.Fatalf("the request in flight at shutdown: %v", err)
	}
	<-shutdownDone
	eventually(t, "every connection of the front's closed", func() bool { return conns.Load() == 0 })
}

// BenchmarkFront is what the front adds to a request: GET / straight to a
// server, and the same through the front. devloop serves every request of
// the dev container, including those during a build, so its cost per
// request is taken from the build's CPU.
//
//	go -C devloop test -run '^$' -bench Front .
func BenchmarkFront(b *testing.B) {
	server := answering(b, "Hello, World!")
	f, frontURL := startFront(b)
	f.switchTo(server)
	for _, bench := range []struct{ name, url string }{{"direct", server.URL}, {"front", frontURL}} {
		b.Run(bench.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for b.Loop() {
				if _, err := get(b, client, bench.url); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
