// Package load is a small HTTP load generator for the end-to-end tests and
// `make bench`: workers on keep-alive connections, each request numbered
// (GET /?i=N), so that what the server logged can be matched one by one
// against what the clients got.
//
// It speaks HTTP over its own connections rather than through http.Client,
// whose transport silently retries a GET that failed on a reused connection:
// that retry would hide exactly the lost responses a drain test looks for.
package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what the clients saw.
type Result struct {
	Elapsed time.Duration
	OK      map[int]bool   // request numbers answered 200 with the whole body
	Failed  map[string]int // failures by kind: the request may not have reached the server
}

// Generator runs requests until Stop is called.
type Generator struct {
	addr, path, wantBody string
	next                 atomic.Int64
	okCount              atomic.Int64
	stop                 chan struct{}
	wg                   sync.WaitGroup
	mu                   sync.Mutex
	result               Result
	start                time.Time
}

// Start runs workers against addr (host:port), each with its own keep-alive
// connection, sending GET path?i=N. wantBody, when not empty, is the body a
// 200 must carry to count as OK.
func Start(addr, path string, workers int, wantBody string) *Generator {
	g := &Generator{
		addr: addr, path: path, wantBody: wantBody,
		stop:   make(chan struct{}),
		result: Result{OK: map[int]bool{}, Failed: map[string]int{}},
		start:  time.Now(),
	}
	for range workers {
		g.wg.Add(1)
		go g.worker()
	}
	return g
}

// OK is how many requests have succeeded so far.
func (g *Generator) OK() int { return int(g.okCount.Load()) }

// WaitOK waits until at least n requests succeeded, or ctx ends.
func (g *Generator) WaitOK(ctx context.Context, n int) error {
	for g.OK() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d requests succeeded: %w", g.OK(), n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Stop lets every request in flight finish, then returns what the clients saw.
func (g *Generator) Stop() Result {
	close(g.stop)
	g.wg.Wait()
	g.result.Elapsed = time.Since(g.start)
	return g.result
}

func (g *Generator) stopped() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

func (g *Generator) worker() {
	defer g.wg.Done()
	var conn net.Conn
	var reader *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for !g.stopped() {
		if conn == nil {
			c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
			if err != nil {
				g.fail("connect: refused or timed out")
				time.Sleep(5 * time.Millisecond) // a closed port answers at once
				continue
			}
			conn, reader = c, bufio.NewReader(c)
		}
		id := int(g.next.Add(1))
		ok, closeConn, kind := g.request(conn, reader, id)
		if ok {
			g.mu.Lock()
			g.result.OK[id] = true
			g.mu.Unlock()
			g.okCount.Add(1)
		} else {
			g.fail(kind)
		}
		if closeConn {
			conn.Close()
			conn = nil
		}
	}
}

func (g *Generator) request(conn net.Conn, reader *bufio.Reader, id int) (ok, closeConn bool, kind string) {
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s?i=%d HTTP/1.1\r\nHost: %s\r\n\r\n", g.path, id, g.addr); err != nil {
		return false, true, "write: connection closed"
	}
	resp, err := http.ReadResponse(reader, nil)
	if err != nil {
		return false, true, "no response: connection closed"
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return false, true, "truncated response body"
	}
	if resp.StatusCode != http.StatusOK || (g.wantBody != "" && string(body) != g.wantBody) {
		return false, resp.Close, fmt.Sprintf("answered %d %.40q", resp.StatusCode, body)
	}
	return true, resp.Close, ""
}

func (g *Generator) fail(kind string) {
	g.mu.Lock()
	g.result.Failed[kind]++
	g.mu.Unlock()
}

// LoggedIDs returns the numbers of the requests a server's logs show it
// answered: each is a request the server accepted.
func LoggedIDs(logs string) map[int]bool {
	ids := map[int]bool{}
	for _, m := range requestID.FindAllStringSubmatch(logs, -1) {
		id, _ := strconv.Atoi(m[1])
		ids[id] = true
	}
	return ids
}

var requestID = regexp.MustCompile(`[?&]i=(\d+)`)

// Lost lists, in order, the requests a server logged (see LoggedIDs) whose
// response no client received in full.
func (r Result) Lost(logged map[int]bool) []int {
	var lost []int
	for id := range logged {
		if !r.OK[id] {
			lost = append(lost, id)
		}
	}
	sort.Ints(lost)
	return lost
}
