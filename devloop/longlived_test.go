package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// eventStream is a backend whose every answer is an event stream: one
// event, then nothing until the request ends.
func eventStream(t *testing.T) *backendServer {
	return serving(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
}

// openEventStream opens the front's stream and reads its first event.
func openEventStream(t *testing.T, url string) *bufio.Reader {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	events := bufio.NewReader(resp.Body)
	if line, err := events.ReadString('\n'); err != nil || line != "data: first\n" {
		t.Fatalf("the stream's first event: %q %v", line, err)
	}
	return events
}

// returnsPromptly fails t unless f returns (within a bound that only ends
// a broken test).
func returnsPromptly(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s waited for an open stream", what)
	}
}

// TestFrontEndsAnEventStreamCleanlyWhenItsServerIsLetGo: the front does
// not wait for an open event stream before the old server may drain, and
// ends the stream as a finished answer (an EventSource then reconnects).
func TestFrontEndsAnEventStreamCleanlyWhenItsServerIsLetGo(t *testing.T) {
	f, url := startFront(t)
	old := eventStream(t)
	f.switchTo(old)
	events := openEventStream(t, url)
	f.switchTo(answering(t, "next"))
	returnsPromptly(t, "waitUnused", func() { f.waitUnused(context.Background(), old, time.Hour) })
	if rest, err := io.ReadAll(events); err != nil || string(rest) != "\n" {
		t.Fatalf("the rest of the stream: %q %v; want the end of the event, then a clean end of stream", rest, err)
	}
	if body, err := get(t, http.DefaultClient, url); err != nil || body != "next" {
		t.Fatalf("after the switch: %q %v", body, err)
	}
}

// TestFrontShutdownEndsOpenStreams: the way out does not wait for an open
// event stream either.
func TestFrontShutdownEndsOpenStreams(t *testing.T) {
	f, url := startFront(t)
	f.switchTo(eventStream(t))
	events := openEventStream(t, url)
	returnsPromptly(t, "shutdown", func() { f.shutdown(context.Background()) })
	if rest, err := io.ReadAll(events); err != nil || string(rest) != "\n" {
		t.Fatalf("the rest of the stream: %q %v; want a clean end of stream", rest, err)
	}
}

// webSocket is a backend that accepts every request as a WebSocket and
// sends frames; then it reads until the connection ends.
func webSocket(t *testing.T, frames []byte) *backendServer {
	return webSocketServing(t, func(rw *bufio.ReadWriter) {
		rw.Write(frames)
		rw.Flush()
	})
}

// webSocketServing is a backend that accepts every request as a WebSocket
// (the handshake without its key check, which is the client's), runs send,
// then reads until the connection ends.
func webSocketServing(t *testing.T, send func(rw *bufio.ReadWriter)) *backendServer {
	return serving(t, func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		send(rw)
		_, _ = io.Copy(io.Discard, rw)
	})
}

// openWebSocket opens a WebSocket through the front and reads n bytes.
func openWebSocket(t *testing.T, url string, n int) *bufio.Reader {
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("the handshake through the front: %v %v", resp, err)
	}
	if _, err := io.ReadFull(r, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFrontClosesAWebSocketCleanlyWhenItsServerIsLetGo: no wait for it,
// and a close frame (1001, going away) after the app's last whole frame.
func TestFrontClosesAWebSocketCleanlyWhenItsServerIsLetGo(t *testing.T) {
	f, url := startFront(t)
	hello := []byte{0x81, 5, 'h', 'e', 'l', 'l', 'o'}
	old := webSocket(t, hello)
	f.switchTo(old)
	ws := openWebSocket(t, url, len(hello))
	f.switchTo(answering(t, "next"))
	returnsPromptly(t, "waitUnused", func() { f.waitUnused(context.Background(), old, time.Hour) })
	rest, err := io.ReadAll(ws)
	if err != nil || !bytes.HasPrefix(rest, []byte{0x88}) || len(rest) < 4 || rest[2] != 0x03 || rest[3] != 0xE9 {
		t.Fatalf("after the switch the WebSocket got % x %v; want a close frame with status 1001, then the end", rest, err)
	}
	if want := closeFrame(1001, "a new build serves: reconnect"); !bytes.Equal(rest, want) {
		t.Fatalf("got % x, want % x", rest, want)
	}
}

// TestFrontClosesAWebSocketMidFrameWithoutAFrame: a close frame in the
// middle of the app's frame would be read as its payload: the connection
// just ends.
func TestFrontClosesAWebSocketMidFrameWithoutAFrame(t *testing.T) {
	f, url := startFront(t)
	half := []byte{0x81, 5, 'h', 'e'}
	old := webSocket(t, half)
	f.switchTo(old)
	ws := openWebSocket(t, url, len(half))
	f.switchTo(answering(t, "next"))
	returnsPromptly(t, "waitUnused", func() { f.waitUnused(context.Background(), old, time.Hour) })
	if rest, _ := io.ReadAll(ws); len(rest) != 0 {
		t.Fatalf("after the switch, mid-frame, the WebSocket got % x; want nothing more", rest)
	}
}

// TestWSFramesFindsEachFrameEnd: frames of each length encoding, masked or
// not, fed a byte at a time: a boundary exactly where each ends.
func TestWSFramesFindsEachFrameEnd(t *testing.T) {
	frame := func(header []byte, payload int) []byte {
		return append(header, bytes.Repeat([]byte{'x'}, payload)...)
	}
	frames := [][]byte{
		frame([]byte{0x81, 0}, 0),
		frame([]byte{0x82, 125}, 125),
		frame([]byte{0x82, 126, 0x01, 0x00}, 256),
		frame([]byte{0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x00, 0x01}, 65537),
		frame([]byte{0x81, 0x80 | 3, 1, 2, 3, 4}, 3), // masked
		frame([]byte{0x89, 0}, 0),                    // ping
	}
	var f wsFrames
	for i, fr := range frames {
		for j, c := range fr {
			if f.atBoundary() != (j == 0) {
				t.Fatalf("frame %d, byte %d of %d: at a boundary: %v", i, j, len(fr), f.atBoundary())
			}
			f.follow([]byte{c})
		}
	}
	if !f.atBoundary() {
		t.Fatal("not at a boundary after the last frame")
	}
}

// TestFrontWebSocketCloseAsAWebSocketLibraryReadsIt: a client and a server
// we did not write (gorilla/websocket) talk through the front; when the
// server's build is let go of, the client reads a close with status 1001
// and the front's reason, as a browser's onclose would.
func TestFrontWebSocketCloseAsAWebSocketLibraryReadsIt(t *testing.T) {
	f, url := startFront(t)
	upgrader := websocket.Upgrader{}
	old := serving(t, func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			kind, message, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if err := conn.WriteMessage(kind, message); err != nil {
				return
			}
		}
	})
	f.switchTo(old)
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte("echo")); err != nil {
		t.Fatal(err)
	}
	if _, message, err := conn.ReadMessage(); err != nil || string(message) != "echo" {
		t.Fatalf("through the front: %q %v", message, err)
	}
	f.switchTo(answering(t, "next"))
	returnsPromptly(t, "waitUnused", func() { f.waitUnused(context.Background(), old, time.Hour) })
	_, _, err = conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) || !strings.Contains(err.Error(), "a new build serves") {
		t.Fatalf("after the switch the client read %v; want a close, going away (1001), with the front's reason", err)
	}
}

// TestFrontLetsGoOfAWebSocketClientThatNeverAnswersTheClose: a client that
// reads the close frame and never answers does not hold the proxy's
// connection, and its two goroutines, for ever: the stream is gone.
func TestFrontLetsGoOfAWebSocketClientThatNeverAnswersTheClose(t *testing.T) {
	f, url := startFront(t)
	hello := []byte{0x81, 5, 'h', 'e', 'l', 'l', 'o'}
	old := webSocket(t, hello)
	f.switchTo(old)
	ws := openWebSocket(t, url, len(hello))
	b := f.current.Load()
	f.switchTo(answering(t, "next"))
	f.waitUnused(context.Background(), old, time.Hour)
	if rest, _ := io.ReadAll(ws); !bytes.HasPrefix(rest, []byte{0x88}) {
		t.Fatalf("the WebSocket got % x; want a close frame", rest)
	}
	eventually(t, "the proxy to let go of the WebSocket", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.streams) == 0
	})
}

// TestFrontSendsNoSecondCloseAfterTheApps: an app that sent its own close
// frame gets no other after it (a second close is a protocol error).
func TestFrontSendsNoSecondCloseAfterTheApps(t *testing.T) {
	f, url := startFront(t)
	appsClose := []byte{0x88, 2, 0x03, 0xE8} // 1000, normal closure
	old := webSocket(t, appsClose)
	f.switchTo(old)
	ws := openWebSocket(t, url, len(appsClose))
	f.switchTo(answering(t, "next"))
	f.waitUnused(context.Background(), old, time.Hour)
	if rest, _ := io.ReadAll(ws); len(rest) != 0 {
		t.Fatalf("after the app's own close the WebSocket got % x; want nothing more", rest)
	}
}

// TestFrontLetsTheFrameUnderWayEndBeforeTheClose: ended while the app is
// in the middle of a frame, the client gets that frame whole, then the
// close frame, and not the app's next frame.
func TestFrontLetsTheFrameUnderWayEndBeforeTheClose(t *testing.T) {
	f, url := startFront(t)
	rest := make(chan struct{})
	old := webSocketServing(t, func(rw *bufio.ReadWriter) {
		rw.Write([]byte{0x81, 5, 'h', 'e'})
		rw.Flush()
		<-rest
		rw.Write([]byte{'l', 'l', 'o', 0x81, 4, 'n', 'e', 'x', 't'})
		rw.Flush()
	})
	f.switchTo(old)
	ws := openWebSocket(t, url, 4)
	f.switchTo(answering(t, "next"))
	f.waitUnused(context.Background(), old, time.Hour) // ends the stream mid-frame
	close(rest)
	got, _ := io.ReadAll(ws)
	if want := append([]byte{'l', 'l', 'o'}, closeFrame(1001, "a new build serves: reconnect")...); !bytes.Equal(got, want) {
		t.Fatalf("ended mid-frame, the WebSocket got % x; want the frame's rest, then the close: % x", got, want)
	}
}

// TestCloseFrameCutsItsReasonBetweenCharacters: a reason longer than a
// close frame holds is cut to valid UTF-8.
func TestCloseFrameCutsItsReasonBetweenCharacters(t *testing.T) {
	frame := closeFrame(1001, strings.Repeat("é", 100)) // 200 bytes, 2 each
	if reason := frame[4:]; len(frame) > 2+125 || len(reason) > 123 || !utf8.Valid(reason) || frame[1] != byte(2+len(reason)) {
		t.Fatalf("close frame % x: its reason is not valid UTF-8 within 123 bytes, or its length is wrong", frame)
	}
}

// TestFrontShutdownReturnsOnceTheWebSocketsCloseIsWritten: the server's
// Shutdown does not wait for hijacked connections, so the front waits for
// the proxy to finish each WebSocket (its close frame written) before
// devloop may exit; also for a client that never answers the close.
func TestFrontShutdownReturnsOnceTheWebSocketsCloseIsWritten(t *testing.T) {
	f, url := startFront(t)
	hello := []byte{0x81, 5, 'h', 'e', 'l', 'l', 'o'}
	f.switchTo(webSocket(t, hello))
	ws := openWebSocket(t, url, len(hello))
	b := f.current.Load()
	returnsPromptly(t, "shutdown", func() { f.shutdown(context.Background()) })
	b.mu.Lock()
	open := len(b.streams)
	b.mu.Unlock()
	if open != 0 {
		t.Fatalf("shutdown returned with %d WebSocket still with the proxy: its close may not be written when devloop exits", open)
	}
	if rest, _ := io.ReadAll(ws); !bytes.Equal(rest, closeFrame(1001, "devloop is stopping")) {
		t.Fatalf("the WebSocket got % x; want the close frame", rest)
	}
}

// TestFrontShutdownEndsTheStreamsOfAServerBeingLetGo: a server the front
// still waits for (a request in flight) is not forgotten by the way out:
// its event stream ends too.
func TestFrontShutdownEndsTheStreamsOfAServerBeingLetGo(t *testing.T) {
	f, url := startFront(t)
	arrived, finish := make(chan struct{}), make(chan struct{})
	old := serving(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-finish
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	f.switchTo(old)
	events := openEventStream(t, url)
	go func() { _, _ = get(t, &http.Client{Transport: &http.Transport{}}, url+"/slow") }()
	<-arrived
	f.switchTo(answering(t, "next"))
	letGo := make(chan struct{})
	go func() { defer close(letGo); f.waitUnused(context.Background(), old, time.Hour) }()
	shutdownDone := make(chan struct{})
	go func() { defer close(shutdownDone); f.shutdown(context.Background()) }()
	returnsPromptly(t, "the stream's end", func() { _, _ = io.ReadAll(events) })
	close(finish)
	<-shutdownDone
	<-letGo
}

// TestBackendKeepsNoConnectionDialedAfterItWasClosed: a dial that
// completes after the front closed its connections to a server is closed
// at once: kept idle and never used, it would hold the server's drain.
func TestBackendKeepsNoConnectionDialedAfterItWasClosed(t *testing.T) {
	f, _ := startFront(t)
	var conns atomic.Int64
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	hs.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			conns.Add(-1)
		}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	f.switchTo(&backendServer{Server: hs, done: make(chan struct{})})
	b := f.current.Load()
	b.closeConnections()
	if conn, err := b.dial(context.Background(), &net.Dialer{}, "tcp", hs.Listener.Addr().String()); err == nil {
		conn.Close()
		t.Fatal("a dial after the backend was closed gave a connection")
	}
	eventually(t, "the server to see the connection closed", func() bool { return conns.Load() == 0 })
}
