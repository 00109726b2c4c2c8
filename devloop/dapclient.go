package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"time"

	"github.com/google/go-dap"
)

// How long the relay gives delve, which runs on the container's loopback:
// to accept a connection, and to take a message (a delve that reads nothing
// must not hold a lock of the relay's for ever).
const (
	delveDialTimeout  = 5 * time.Second
	delveWriteTimeout = 5 * time.Second
)

// upstream is the relay's DAP connection to one build's delve. Requests
// get numbers of its own: the editor's are passed on and their responses go
// back under the number the editor gave (to owner); the relay's own (a
// replay, a cleanup) are answered to call.
type upstream struct {
	conn  net.Conn
	owner delveListener

	mu       sync.Mutex // a leaf: held across a write to delve, which has a deadline
	seq      int
	pending  map[int]chan message // the relay's own requests, by number
	editors  map[int]message      // the editor's requests, by number
	answered chan struct{}        // a response to one of editors came: see waitAnswered
	closed   bool
}

// delveListener is what an upstream hands its messages to: the session.
type delveListener interface {
	// fromDelve is an event, or the response to request, an editor's.
	fromDelve(up *upstream, m, request message)
	// unanswered is an editor's request that delve will not answer now:
	// the connection closed first.
	unanswered(request message, err error)
}

func dialDelve(addr string, owner delveListener) (*upstream, error) {
	conn, err := net.DialTimeout("tcp", addr, delveDialTimeout)
	if err != nil {
		return nil, err
	}
	up := &upstream{conn: conn, owner: owner, pending: map[int]chan message{}, editors: map[int]message{},
		answered: make(chan struct{}, 1)}
	go up.read()
	return up, nil
}

func (up *upstream) read() {
	reader := bufio.NewReader(up.conn)
	for {
		raw, err := dap.ReadBaseMessage(reader)
		if err != nil {
			up.close()
			return
		}
		m, err := parse(raw)
		if err != nil {
			continue
		}
		var request message
		if m.str("type") == "response" {
			n := m.int("request_seq")
			up.mu.Lock()
			reply, ours := up.pending[n]
			var theirs bool
			request, theirs = up.editors[n]
			delete(up.pending, n)
			delete(up.editors, n)
			up.mu.Unlock()
			if ours {
				reply <- m // buffered: call may have given up
				continue
			}
			if !theirs {
				continue
			}
			m = maps.Clone(m)
			m["request_seq"] = request["seq"]
			select {
			case up.answered <- struct{}{}:
			default:
			}
		}
		up.owner.fromDelve(up, m, request)
	}
}

var errReplaced = errors.New("the build this request went to was replaced; try again")

// send passes on a request of the editor's.
func (up *upstream) send(m message) error {
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.closed {
		return errReplaced
	}
	up.seq++
	out := maps.Clone(m)
	out.set("seq", up.seq)
	if err := up.write(out); err != nil {
		return err
	}
	up.editors[up.seq] = m
	return nil
}

// call sends a request of the relay's own and waits for its response,
// until ctx ends; a failed response is an error too.
func (up *upstream) call(ctx context.Context, command string, args any) (message, error) {
	reply := make(chan message, 1)
	up.mu.Lock()
	if up.closed {
		up.mu.Unlock()
		return nil, errReplaced
	}
	up.seq++
	n := up.seq
	m := request(command, args)
	m.set("seq", n)
	err := up.write(m)
	if err == nil {
		up.pending[n] = reply
	}
	up.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", command, err)
	}
	select {
	case r, ok := <-reply:
		if !ok {
			return nil, errReplaced
		}
		if !r.succeeded() {
			return r, fmt.Errorf("%s: %s", command, r.str("message"))
		}
		return r, nil
	case <-ctx.Done():
		up.mu.Lock()
		delete(up.pending, n)
		up.mu.Unlock()
		return nil, fmt.Errorf("%s: no answer from delve: %w", command, ctx.Err())
	}
}

// write sends m; up.mu is held.
func (up *upstream) write(m message) error {
	_ = up.conn.SetWriteDeadline(time.Now().Add(delveWriteTimeout))
	return dap.WriteBaseMessage(up.conn, m.bytes())
}

// waitAnswered waits until delve has answered every request of the
// editor's sent to it, or ctx ends.
func (up *upstream) waitAnswered(ctx context.Context) {
	for {
		up.mu.Lock()
		left := len(up.editors)
		up.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-up.answered:
		case <-ctx.Done():
			return
		}
	}
}

// close ends the connection; requests still waiting for an answer get an
// error, so that nobody is left waiting.
func (up *upstream) close() {
	up.mu.Lock()
	if up.closed {
		up.mu.Unlock()
		return
	}
	up.closed = true
	_ = up.conn.Close()
	pending, editors := up.pending, up.editors
	up.pending, up.editors = map[int]chan message{}, map[int]message{}
	up.mu.Unlock()
	select {
	case up.answered <- struct{}{}:
	default:
	}
	for _, reply := range pending {
		close(reply)
	}
	for _, request := range editors {
		up.owner.unanswered(request, errReplaced)
	}
}
