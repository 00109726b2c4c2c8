package harness

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// OpenLingering opens on addr what a browser tab leaves open on a dev
// server: a keep-alive connection, idle after one answer; a preconnected
// socket with nothing sent yet (browsers open them ahead of the next
// request); and a request sent in part. They stay open until the test ends.
// None carries a request being answered, so a server stopping owes them
// nothing and should close them at once.
func OpenLingering(t TB, addr string) {
	t.Helper()
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	idle := dial()
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatalf("keep-alive request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil {
		t.Fatalf("keep-alive answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatalf("the server closed the keep-alive connection after its answer")
	}
	dial() // preconnected
	if _, err := io.WriteString(dial(), "GET /healthz HTTP/1.1\r\nHost: local"); err != nil {
		t.Fatalf("half-sent request: %v", err)
	}
}
