package main

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// firstBuildWait is how long a request that arrives before any build serves
// (the first `up`, or a first build that does not compile) waits for one.
const firstBuildWait = 2 * time.Minute

// exitNoticeWait is how long a request that broke off waits to learn
// whether its server died: a process is reaped within milliseconds of the
// exit that broke the connection, and the 502 then names the exit status.
const exitNoticeWait = 250 * time.Millisecond

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
	replaced map[string]*backend      // by address, until waitUnused
	clients  map[net.Conn]*clientConn // the browsers' connections, for the way out
	stopping chan struct{}            // closed when shutdown begins

	// Test hooks, nil otherwise: a request waits for the first build; a
	// request picked its backend and is about to be counted against it.
	waiting, picked func()
}

// backend is one build's server behind the front, with its own connection
// pool, so that switching away from it can close just its idle connections.
type backend struct {
	server    server
	proxy     *httputil.ReverseProxy
	transport *http.Transport

	mu       sync.Mutex
	requests int                  // being answered, long-lived streams aside
	released bool                 // waitUnused let go of it: no request may pick it any more
	unused   chan struct{}        // closed once it is released and nothing is being answered
	streams  map[*stream]struct{} // server-sent events and WebSockets under way
	// streamsGone is closed whenever streams is empty; ended, once set,
	// is why every stream ends, also one that begins later.
	streamsGone chan struct{}
	ended       string
	// closed: no connection to the server is kept from now on, also one
	// whose dial completes after the idle ones were closed.
	closed bool
}

func newFront(logger *slog.Logger) *front {
	f := &front{log: logger, first: make(chan struct{}), replaced: map[string]*backend{},
		clients: map[net.Conn]*clientConn{}, stopping: make(chan struct{})}
	// No timeouts of its own: the app behind it has them, and a request
	// halted at a breakpoint may rightly take minutes.
	f.server = &http.Server{
		Handler:     f,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState:   f.track,
		ConnContext: f.connContext,
	}
	return f
}

func (f *front) serve(l net.Listener) {
	if err := f.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		f.log.Error("front stopped", "error", err)
	}
}

func (f *front) close() { _ = f.server.Close() }

// switchTo sends every request from now on to s. The server before it is
// about to drain: waitUnused says when it may.
func (f *front) switchTo(s server) {
	b := &backend{server: s, unused: make(chan struct{}), streams: map[*stream]struct{}{}, streamsGone: make(chan struct{})}
	close(b.streamsGone)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return b.dial(ctx, dialer, network, addr)
		},
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass the client's Accept-Encoding through untouched
	}
	target := &url.URL{Scheme: "http", Host: s.Addr()}
	b.transport = transport
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the app sees the Host the client asked for
			r.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1, // stream as the app writes: server-sent events, long polls
		ModifyResponse: func(resp *http.Response) error {
			b.watchForStream(resp)
			return f.browser.modifyResponse(resp) // the stale-build header, the pages' script
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away: nobody to answer, and no fault of the server's
			}
			why := b.whyNoAnswer(err)
			f.log.Warn("the server did not answer", "addr", s.Addr(), "method", r.Method, "uri", r.RequestURI, "error", why)
			http.Error(w, "devloop: the dev server did not answer ("+why+"); see the container's log", http.StatusBadGateway)
		},
	}
	if old := f.current.Swap(b); old != nil {
		f.mu.Lock()
		f.replaced[old.server.Addr()] = old
		f.mu.Unlock()
	}
	f.once.Do(func() { close(f.first) })
}

// waitUnused returns once every request the front sent s has been answered,
// or after max, or when ctx ends (the way out's bound), having ended s's
// long-lived streams (an EventSource or a WebSocket reconnects, to the new
// build) and closed the front's idle connections to it. Only then may s drain: a request the front has chosen
// it for but not yet written would meet a closed connection and fail, and
// an open stream would hold its drain to the end. (A request that takes
// longer than max is under way in the app, whose drain waits for it.)
func (f *front) waitUnused(ctx context.Context, s server, max time.Duration) {
	f.mu.Lock()
	b := f.replaced[s.Addr()]
	f.mu.Unlock()
	if b == nil {
		return
	}
	// Until it is let go of, the way out finds it among the replaced ones.
	defer func() {
		f.mu.Lock()
		delete(f.replaced, s.Addr())
		f.mu.Unlock()
	}()
	b.mu.Lock()
	b.released = true
	b.noteUnused()
	b.mu.Unlock()
	select {
	case <-b.unused:
	case <-time.After(max):
	case <-ctx.Done():
	}
	b.endStreams("a new build serves: reconnect")
	b.closeConnections()
}

// dial connects to b's server, unless b is closed: a connection that would
// then be kept idle, never used, would hold the server's drain.
func (b *backend) dial(ctx context.Context, dialer *net.Dialer, network, addr string) (net.Conn, error) {
	conn, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		conn.Close()
		return nil, errors.New("devloop let go of this server")
	}
	return conn, nil
}

// closeConnections closes the front's idle connections to b's server, and
// every one that becomes idle from now on; b takes no request any more.
func (b *backend) closeConnections() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.transport.CloseIdleConnections()
}

// shutdown is the front's way out, bounded by ctx: it stops accepting, ends
// every long-lived stream, closes at once every client connection with no
// request being answered (idle keep-alives, a browser's preconnected
// sockets, half-sent requests: none has anything to lose), and waits for
// the requests being answered and the streams' ends, meanwhile the servers
// drain. Then it closes every connection to the servers: to a server, a
// connection the front dialed and never used is busy, and its drain would
// wait for it.
func (f *front) shutdown(ctx context.Context) {
	f.server.SetKeepAlivesEnabled(false) // each answer from now on closes its connection
	f.mu.Lock()
	close(f.stopping)
	backends := slices.Collect(maps.Values(f.replaced))
	if b := f.current.Load(); b != nil {
		backends = append(backends, b)
	}
	clients := slices.Collect(maps.Values(f.clients))
	f.mu.Unlock()
	for _, b := range backends {
		b.endStreams("devloop is stopping")
		b.transport.CloseIdleConnections()
	}
	for _, c := range clients {
		c.closeUnlessAnswering()
	}
	if err := f.server.Shutdown(ctx); err != nil {
		f.close() // the bound came: what is left is cut off
	}
	// The server's Shutdown does not wait for hijacked connections: a
	// WebSocket's close frame is written by the proxy, which is waited for.
	for _, b := range backends {
		b.closeConnections()
		b.waitStreamsGone(ctx)
	}
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c, ok := r.Context().Value(clientConnKey{}).(*clientConn); ok && !c.answer() {
		return // the way out closed its connection: nobody to answer
	}
	if f.browser.owns(r) {
		f.browser.ServeHTTP(w, r)
		return
	}
	if f.current.Load() == nil {
		if f.browser.answerWithoutBuild(w, r) {
			return
		}
		if f.waiting != nil {
			f.waiting()
		}
		select {
		case <-f.first:
		case <-f.browser.firstBuildFailed(r):
			if f.browser.answerWithoutBuild(w, r) {
				return
			} // else a build serves since (the pages learn of a switch after the front): on to it
		case <-r.Context().Done():
			return
		case <-f.stopping:
			http.Error(w, "devloop is stopping", http.StatusServiceUnavailable)
			return
		case <-time.After(firstBuildWait):
			http.Error(w, "devloop: no build is serving yet; see the container's log", http.StatusServiceUnavailable)
			return
		}
	}
	b := f.pick()
	counted := &countedRequest{}
	defer b.answered(counted)
	b.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), countedRequestKey{}, counted)))
}

// pick is the current backend, counted against for one request. A switch
// between reading f.current and counting is caught by the count: a backend
// that waitUnused has let go of takes no request, and the loop reads the
// new current one.
func (f *front) pick() *backend {
	for {
		b := f.current.Load()
		if f.picked != nil {
			f.picked()
		}
		if b.take() {
			return b
		}
	}
}

// countedRequest is one request counted against its backend, until it is
// answered, or its answer turns out to be a long-lived stream.
type countedRequest struct{ stream bool }

type countedRequestKey struct{}

func (b *backend) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.released {
		return false
	}
	b.requests++
	return true
}

func (b *backend) answered(req *countedRequest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !req.stream {
		b.requests--
		b.noteUnused()
	}
}

// noteUnused closes unused once waitUnused has let go of b and nothing is
// being answered; b.mu is held.
func (b *backend) noteUnused() {
	if b.released && b.requests == 0 {
		select {
		case <-b.unused:
		default:
			close(b.unused)
		}
	}
}

// whyNoAnswer is what a 502 says: when the server died, how (it broke the
// connection as it exited), else the proxy's error.
func (b *backend) whyNoAnswer(err error) string {
	select {
	case <-b.server.Done():
		return "the server exited, " + exitStatus(b.server.Err()) + "; the next save starts a new build"
	case <-time.After(exitNoticeWait):
		return err.Error()
	}
}
