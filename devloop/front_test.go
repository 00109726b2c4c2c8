package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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

// answering is a backend that answers every request with body.
func answering(t testing.TB, body string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
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
	f := newFront(slog.New(slog.NewTextHandler(io.Discard, nil)))
	arrived := make(chan struct{}, 1)
	f.server.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateActive {
			arrived <- struct{}{}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.serve(l)
	t.Cleanup(f.close)
	got := make(chan string, 1)
	go func() {
		body, err := get(t, http.DefaultClient, "http://"+l.Addr().String())
		if err != nil {
			body = err.Error()
		}
		got <- body
	}()
	<-arrived // the request is with the front, and no build serves yet
	select {
	case body := <-got:
		t.Fatalf("with no build yet the request was answered at once: %q", body)
	case <-time.After(50 * time.Millisecond):
	}
	f.switchTo(strings.TrimPrefix(answering(t, "first").URL, "http://"))
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
	f.switchTo(strings.TrimPrefix(old.URL, "http://"))
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
	for i := range 20 {
		time.Sleep(10 * time.Millisecond)
		next := answering(t, fmt.Sprint("build ", i))
		f.switchTo(strings.TrimPrefix(next.URL, "http://"))
		// The old build drains as the loop has it: once the front no
		// longer uses it. Close waits for its requests, then closes its
		// connections, as the app's Shutdown does.
		f.waitUnused(strings.TrimPrefix(old.URL, "http://"), time.Second)
		old.Close()
		old = next
	}
	time.Sleep(10 * time.Millisecond)
	cancel()
	wg.Wait()
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Fatalf("%d requests failed across 20 switches, %d succeeded; first failure: %v", failed.Load(), ok.Load(), firstErr.Load())
	}
	if body, err := get(t, http.DefaultClient, url); err != nil || body != "build 19" {
		t.Fatalf("after the switches: %q %v", body, err)
	}
}

func TestFrontServerThatDoesNotAnswerIs502WithAReason(t *testing.T) {
	f, url := startFront(t)
	gone := answering(t, "gone")
	f.switchTo(strings.TrimPrefix(gone.URL, "http://"))
	gone.Close()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "container's log") {
		t.Fatalf("got %d %q; want 502 saying where to look", resp.StatusCode, body)
	}
}

func TestFrontKeepsTheClientsHostHeader(t *testing.T) {
	f, url := startFront(t)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	}))
	t.Cleanup(s.Close)
	f.switchTo(strings.TrimPrefix(s.URL, "http://"))
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

// TestFrontShutdownLeavesTheServerNothingToWaitFor: after the front's
// shutdown, a server's own Shutdown finds no connection of the front's
// still open, also one the front dialed and never used.
func TestFrontShutdownLeavesTheServerNothingToWaitFor(t *testing.T) {
	f, url := startFront(t)
	var conns atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	f.switchTo(strings.TrimPrefix(s.URL, "http://"))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				_, _ = get(t, &http.Client{Transport: &http.Transport{}}, url)
			}
		})
	}
	wg.Wait()
	f.shutdown(time.Second)
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
	f.switchTo(strings.TrimPrefix(server.URL, "http://"))
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
