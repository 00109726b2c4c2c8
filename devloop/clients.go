package main

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// The front's client connections, tracked for the way out: one that
// carries no request being answered is closed at once (front.shutdown).

// clientConn is a client's connection to the front, and whether a request
// on it is being answered: one that is not (idle, preconnected, half-sent)
// is closed at once on the way out.
type clientConn struct {
	net.Conn
	mu        sync.Mutex
	answering bool
	closed    bool
}

type clientConnKey struct{}

// connContext registers each client connection as the server accepts it,
// and puts it in the context of every request on it, for ServeHTTP to mark
// it as being answered. One accepted as the front stops is closed: nothing
// was sent on it yet.
func (f *front) connContext(ctx context.Context, conn net.Conn) context.Context {
	c := &clientConn{Conn: conn}
	f.mu.Lock()
	select {
	case <-f.stopping:
		c.closed = true
		_ = conn.Close()
	default:
		f.clients[conn] = c
	}
	f.mu.Unlock()
	return context.WithValue(ctx, clientConnKey{}, c)
}

// track notes when a client connection's answer is written (it is idle
// again) and when it is gone.
func (f *front) track(conn net.Conn, state http.ConnState) {
	f.mu.Lock()
	c := f.clients[conn]
	if state == http.StateClosed || state == http.StateHijacked {
		delete(f.clients, conn)
	}
	f.mu.Unlock()
	if c != nil && state == http.StateIdle {
		c.mu.Lock()
		c.answering = false
		c.mu.Unlock()
	}
}

// answer marks c as being answered, unless the way out closed it.
func (c *clientConn) answer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answering = !c.closed
	return !c.closed
}

func (c *clientConn) closeUnlessAnswering() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.answering {
		c.closed = true
		_ = c.Conn.Close()
	}
}
