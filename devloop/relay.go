package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// relay is the debug port (2345 in the debug service). Every build runs
// under a delve of its own, so an editor attached straight to delve would
// lose its session at every save. The relay holds the editor's connection
// instead: it passes the session to the delve of the build that serves and,
// when a new build takes over, replays the session into the new delve
// (initialize, attach, the breakpoints of each file, configurationDone)
// before the new build gets any request. The editor stays attached: it
// never sees the old delve's terminated or exited events, only one line in
// its debug console per reload.
//
// It speaks the Debug Adapter Protocol (VS Code). A client speaking delve's
// own JSON-RPC API (GoLand, dlv connect) is piped to the newest delve as it
// is, and re-attaches after a save.
//
// The files: relay.go the port and the switch; session.go one editor's
// session; replay.go what a session remembers and which build a request
// belongs to; sources.go the source version a build was compiled from;
// dapclient.go the connection to a delve; dapmsg.go DAP messages.
type relay struct {
	log     *slog.Logger
	listen  net.Listener
	watched string // the directory of the sources builds compile (app/)

	mu       sync.Mutex    // a leaf: never held while a session is called
	serving  build         // the newest build; n 0 before the first
	compiled sourceVersion // of the build that started compiling last
	changed  chan struct{} // closed and replaced on every switch
	sessions map[*session]struct{}

	// silent counts the connections whose client has not spoken yet, whose
	// build is not decided: a test waits for one there.
	silent atomic.Int32
}

// build is a build that serves, as the relay knows it.
type build struct {
	n       int           // counts the switches: a later build has a larger n
	delve   string        // its delve's address
	sources sourceVersion // what it was compiled from
}

func newRelay(l net.Listener, watched string, logger *slog.Logger) *relay {
	r := &relay{log: logger, listen: l, watched: watched, changed: make(chan struct{}), sessions: map[*session]struct{}{}}
	go r.serve()
	return r
}

func (r *relay) close() { _ = r.listen.Close() }

// compiling notes the source version of the build that starts compiling:
// the loop calls it before the compiler reads a file. The next switchTo is
// that build's (a save meanwhile supersedes it and calls compiling again).
func (r *relay) compiling() {
	v := snapshotSources(r.watched)
	r.mu.Lock()
	r.compiled = v
	r.mu.Unlock()
}

// switchTo moves every session to the delve at addr, the build that takes
// over, then sends new connections there. It returns once the breakpoints
// are set in the new delve, so that its build may take requests.
func (r *relay) switchTo(addr string) {
	r.mu.Lock()
	r.serving = build{n: r.serving.n + 1, delve: addr, sources: r.compiled}
	b := r.serving
	close(r.changed)
	r.changed = make(chan struct{})
	sessions := slices.Collect(maps.Keys(r.sessions))
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { s.moveTo(b) })
	}
	wg.Wait()
}

// console writes a line in every attached editor's debug console.
func (r *relay) console(category, text string) {
	r.mu.Lock()
	sessions := slices.Collect(maps.Keys(r.sessions))
	r.mu.Unlock()
	for _, s := range sessions {
		s.console(category, text)
	}
}

// newest is the build serving now, waiting for the first one.
func (r *relay) newest(ctx context.Context) (build, bool) {
	for {
		r.mu.Lock()
		b, changed := r.serving, r.changed
		r.mu.Unlock()
		if b.n > 0 {
			return b, true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return b, false
		}
	}
}

func (r *relay) serve() {
	for {
		conn, err := r.listen.Accept()
		if err != nil {
			return
		}
		go r.handle(conn)
	}
}

func (r *relay) handle(conn net.Conn) {
	defer conn.Close()
	if tcp, ok := conn.(*net.TCPConn); ok {
		// An editor whose network went away without a close is noticed in
		// about 20 s rather than Go's default of minutes: its session ends,
		// and what it set is cleared.
		_ = tcp.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3})
	}
	ctx, cancel := context.WithTimeout(context.Background(), firstBuildWait)
	_, ok := r.newest(ctx)
	cancel()
	if !ok {
		return
	}
	reader := bufio.NewReader(conn)
	// Both protocols have the client speak first: DAP with a header,
	// delve's JSON-RPC with a JSON object. A client may take its time;
	// where it goes is decided once it has spoken.
	r.silent.Add(1)
	head, err := reader.Peek(len("Content-Length"))
	r.silent.Add(-1)
	if err != nil {
		return // gone before it said anything: nothing to pass on
	}
	if string(head) != "Content-Length" {
		r.pipe(conn, reader)
		return
	}
	s := newSession(conn, reader, r.log)
	// Joining and reading the build serving, at once: a switch after this
	// moves the session too, one before it is the build it starts on.
	r.mu.Lock()
	r.sessions[s] = struct{}{}
	b := r.serving
	r.mu.Unlock()
	s.moveTo(b)
	s.run()
	r.mu.Lock()
	delete(r.sessions, s)
	r.mu.Unlock()
}

// pipe copies bytes both ways between a client of delve's own API and the
// newest delve.
func (r *relay) pipe(client net.Conn, fromClient io.Reader) {
	r.mu.Lock()
	addr := r.serving.delve
	r.mu.Unlock()
	upstream, err := net.DialTimeout("tcp", addr, delveDialTimeout)
	if err != nil {
		r.log.Info("a debugger client could not reach delve", "error", err)
		return
	}
	defer upstream.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, fromClient); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, upstream); done <- struct{}{} }()
	<-done // either side closing ends both
}
