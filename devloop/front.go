package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// firstBuildWait is how long a request that arrives before any build serves
// (the first `up`, or a first build that does not compile) waits for one.
const firstBuildWait = 2 * time.Minute

// front is the published port: an HTTP reverse proxy to the server of the
// newest build that answered. A reload switches it from one server to the
// next, so the port never closes and no request is refused; requests already
// with the old server finish there (its drain).
//
// Why a proxy rather than handing the listening socket from server to
// server: delve starts the server itself and passes it no file descriptor
// but the standard three, so under the debugger a socket could not be
// handed over; and a client's keep-alive connection stays with the front
// across reloads instead of being closed under it by the old server's drain.
type front struct {
	log     *slog.Logger
	current atomic.Pointer[backend]
	first   chan struct{} // closed once a backend is set
	once    sync.Once
	server  *http.Server
	browser *browsers // the pages' script and events (browser.go); nil: DEVLOOP_BROWSER=off

	mu       sync.Mutex
	replaced map[string]*backend // by address, until waitUnused
}

// backend is one build's server behind the front, with its own connection
// pool, so that switching away from it can close just its idle connections.
type backend struct {
	addr      string
	proxy     *httputil.ReverseProxy
	transport *http.Transport
	inFlight  atomic.Int64 // requests the front has sent it, or is about to
}

func newFront(logger *slog.Logger) *front {
	f := &front{log: logger, first: make(chan struct{}), replaced: map[string]*backend{}}
	// No timeouts of its own: the app behind it has them, and a request
	// halted at a breakpoint may rightly take minutes.
	f.server = &http.Server{Handler: f, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	return f
}

func (f *front) serve(l net.Listener) {
	if err := f.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		f.log.Error("front stopped", "error", err)
	}
}

func (f *front) close() { _ = f.server.Close() }

// shutdown stops taking requests, waits up to timeout for those under way,
// and closes every connection to the servers that is not in use. A server's
// drain would otherwise wait for a connection the front opened for a
// request that another connection then took: to the server, a connection
// that has yet to send its first request is busy.
func (f *front) shutdown(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = f.server.Shutdown(ctx)
	if b := f.current.Load(); b != nil {
		b.transport.CloseIdleConnections()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.replaced {
		b.transport.CloseIdleConnections()
	}
}

// switchTo sends every request from now on to the server at addr. The
// server before it is about to drain: waitUnused says when it may.
func (f *front) switchTo(addr string) {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass the client's Accept-Encoding through untouched
	}
	target := &url.URL{Scheme: "http", Host: addr}
	b := &backend{addr: addr, transport: transport, proxy: &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the app sees the Host the client asked for
			r.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1, // stream as the app writes: server-sent events, long polls
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			f.log.Warn("the server did not answer", "addr", addr, "method", r.Method, "uri", r.RequestURI, "error", err)
			http.Error(w, "devloop: the dev server did not answer ("+err.Error()+"); see the container's log", http.StatusBadGateway)
		},
		ModifyResponse: f.browser.modifyResponse, // the stale-build header, the pages' script
	}}
	if old := f.current.Swap(b); old != nil {
		f.mu.Lock()
		f.replaced[old.addr] = old
		f.mu.Unlock()
	}
	f.once.Do(func() { close(f.first) })
}

// waitUnused returns once every request the front sent the server at addr
// has been answered, or after max, and closes the front's idle connections
// to it. Only then may that server drain: a request the front has chosen it
// for but not yet written would meet a closed connection and fail. (One
// that takes longer than max is under way in the app, whose drain waits for
// it.)
func (f *front) waitUnused(addr string, max time.Duration) {
	f.mu.Lock()
	b := f.replaced[addr]
	delete(f.replaced, addr)
	f.mu.Unlock()
	if b == nil {
		return
	}
	for deadline := time.Now().Add(max); b.inFlight.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	b.transport.CloseIdleConnections()
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.browser.owns(r) {
		f.browser.ServeHTTP(w, r)
		return
	}
	b := f.current.Load()
	if b == nil {
		if f.browser.answerWithoutBuild(w, r) {
			return
		}
		select {
		case <-f.first:
		case <-r.Context().Done():
			return
		case <-time.After(firstBuildWait):
			http.Error(w, "devloop: no build is serving yet; see the container's log", http.StatusServiceUnavailable)
			return
		}
	}
	// Count the request against the backend before using it, then check it
	// is still the current one: a switch in between is then either seen
	// here, or waited for by waitUnused.
	for {
		b = f.current.Load()
		b.inFlight.Add(1)
		if f.current.Load() == b {
			break
		}
		b.inFlight.Add(-1)
	}
	defer b.inFlight.Add(-1)
	b.proxy.ServeHTTP(w, r)
}
