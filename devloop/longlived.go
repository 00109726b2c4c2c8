package main

import (
	"context"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Long-lived responses: server-sent events (an EventSource) and WebSockets
// stay open as long as the page does. Counted as requests in flight, one
// would hold a replaced server's drain to its bound on every save, then
// die with the server. So the front tells them apart as their answer
// begins, waits for none of them, and ends them itself, cleanly, when their
// server is to drain (waitUnused) or devloop stops (shutdown): an event
// stream ends as if the app had finished it, a WebSocket gets a close frame
// (1001, going away) between two frames of the app's. The page's
// EventSource then reconnects by itself, to the new build; a WebSocket
// client reconnects in its onclose.

// watchForStream takes resp, the answer to a counted request, out of the
// requests waitUnused waits for when it is a long-lived stream, and keeps
// it to be ended.
func (b *backend) watchForStream(resp *http.Response) {
	switched := resp.StatusCode == http.StatusSwitchingProtocols
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !switched && mediaType != "text/event-stream" {
		return
	}
	s := &stream{body: resp.Body}
	if switched && strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		s.frames = &wsFrames{}
		if c, ok := resp.Request.Context().Value(clientConnKey{}).(*clientConn); ok {
			s.client = c.Conn
		}
	}
	resp.Body = s
	b.mu.Lock()
	if req, ok := resp.Request.Context().Value(countedRequestKey{}).(*countedRequest); ok && !req.stream {
		req.stream = true
		b.requests--
		b.noteUnused()
	}
	if len(b.streams) == 0 {
		b.streamsGone = make(chan struct{})
	}
	b.streams[s] = struct{}{}
	ended := b.ended
	b.mu.Unlock()
	s.gone = func() {
		b.mu.Lock()
		delete(b.streams, s)
		if len(b.streams) == 0 {
			close(b.streamsGone)
		}
		b.mu.Unlock()
	}
	if ended != "" { // it began after its streams were ended
		s.end(ended)
	}
}

// endStreams ends every long-lived stream of b's, and any that begins
// later; reason goes in a WebSocket's close frame.
func (b *backend) endStreams(reason string) {
	b.mu.Lock()
	if b.ended == "" {
		b.ended = reason
	}
	streams := slices.Collect(maps.Keys(b.streams))
	b.mu.Unlock()
	for _, s := range streams {
		s.end(reason)
	}
}

// waitStreamsGone returns once the proxy is done with every stream of b's,
// or when ctx ends.
func (b *backend) waitStreamsGone(ctx context.Context) {
	for {
		b.mu.Lock()
		empty, gone := len(b.streams) == 0, b.streamsGone
		b.mu.Unlock()
		if empty {
			return
		}
		select {
		case <-gone:
		case <-ctx.Done():
			return
		}
	}
}

// stream is the body of a long-lived answer as the proxy reads it from the
// server (and, for a WebSocket, writes the client's frames to), which the
// front can end.
type stream struct {
	body   io.ReadCloser
	frames *wsFrames // a WebSocket's: where the app's frames end
	client net.Conn  // a WebSocket's: the client's connection, which the proxy holds
	gone   func()    // once closed

	mu    sync.Mutex
	ended bool
	// A WebSocket ended in the middle of one of the app's frames: the
	// close frame, with this reason, waits for the frame's end.
	midFrame bool
	reason   string
	closing  []byte // what is left to send of the close frame
	once     sync.Once
}

// closeReplyWait is how long a WebSocket client has, once its stream has
// ended, to answer the close (the proxy holds the connection until the
// client's side ends too: one that never answered would hold it, and two
// goroutines, for ever); and how long an app's frame under way may take
// to finish before the close.
const closeReplyWait = time.Second

// end makes the stream's next read, or the one under way, the last: the
// proxy then finishes the answer (an event stream) or closes the client's
// connection after a close frame (a WebSocket). A WebSocket frame of the
// app's under way is let through whole first: a close frame inside it
// would be read as its payload, and a cut frame is a broken connection.
func (s *stream) end(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	if s.frames != nil && !s.frames.atBoundary() {
		s.midFrame, s.reason = true, reason
		time.AfterFunc(closeReplyWait, func() { _ = s.body.Close() }) // an app stalled mid-frame
		return
	}
	s.closeNow(reason)
}

// closeNow readies the close frame, unless the app sent its own, and
// closes the app's side, so that a read under way returns; s.mu is held.
func (s *stream) closeNow(reason string) {
	if s.frames != nil && !s.frames.closed {
		s.closing = closeFrame(1001, reason)
	}
	_ = s.body.Close()
}

func (s *stream) Read(p []byte) (n int, err error) {
	defer func() {
		if err != nil && s.client != nil {
			_ = s.client.SetReadDeadline(time.Now().Add(closeReplyWait))
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended || s.midFrame {
		s.mu.Unlock()
		n, err = s.body.Read(p)
		s.mu.Lock()
		switch {
		case s.midFrame:
			// Up to the end of the frame under way when end came, not a
			// byte of the next.
			if n = s.frames.followToBoundary(p[:n]); s.frames.atBoundary() {
				s.midFrame = false
				s.closeNow(s.reason)
			}
		case s.frames != nil:
			s.frames.follow(p[:n])
		}
		if !s.ended || n > 0 {
			return n, err // the end comes at the next read
		}
	}
	// The close frame only where the app's last frame ended: cut short
	// mid-frame (an app that stalled), the connection just ends.
	if len(s.closing) > 0 && s.frames.atBoundary() {
		n := copy(p, s.closing)
		s.closing = s.closing[n:]
		return n, nil
	}
	return 0, io.EOF
}

// Write passes a WebSocket client's frames to the app; the proxy only
// takes a stream for the connection of a protocol switch when it can.
func (s *stream) Write(p []byte) (int, error) {
	w, ok := s.body.(io.Writer)
	if !ok {
		return 0, io.ErrClosedPipe
	}
	return w.Write(p)
}

func (s *stream) Close() error {
	err := s.body.Close()
	s.once.Do(func() {
		if s.gone != nil {
			s.gone()
		}
	})
	return err
}

// wsFrames follows the frames a WebSocket server sends (RFC 6455, 5.2), to
// know where one ends.
type wsFrames struct {
	header []byte // of the frame under way, until it is whole
	left   uint64 // of the frame under way's payload
	closed bool   // the app sent its own close frame
}

func (f *wsFrames) follow(p []byte) {
	for len(p) > 0 {
		if f.left > 0 {
			n := min(f.left, uint64(len(p)))
			f.left -= n
			p = p[n:]
			continue
		}
		f.header = append(f.header, p[0])
		p = p[1:]
		if size, ok := wsHeaderSize(f.header); ok && len(f.header) == size {
			f.left = wsPayloadLength(f.header)
			f.closed = f.closed || f.header[0]&0x0f == wsOpClose
			f.header = f.header[:0]
		}
	}
}

const wsOpClose = 0x8

func (f *wsFrames) atBoundary() bool { return f.left == 0 && len(f.header) == 0 }

// followToBoundary follows p up to the end of the frame under way, and
// says how much of p that is.
func (f *wsFrames) followToBoundary(p []byte) int {
	for i := range p {
		if f.follow(p[i : i+1]); f.atBoundary() {
			return i + 1
		}
	}
	return len(p)
}

// wsHeaderSize is the size of a frame's header, once its first two bytes
// say it.
func wsHeaderSize(h []byte) (int, bool) {
	if len(h) < 2 {
		return 0, false
	}
	size := 2
	switch h[1] & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h[1]&0x80 != 0 { // masked: a server's frames should not be, but a key is no payload
		size += 4
	}
	return size, true
}

func wsPayloadLength(h []byte) uint64 {
	switch n := h[1] & 0x7f; n {
	case 126:
		return uint64(h[2])<<8 | uint64(h[3])
	case 127:
		var length uint64
		for _, c := range h[2:10] {
			length = length<<8 | uint64(c)
		}
		return length
	default:
		return uint64(n)
	}
}

// closeFrame is a server's close frame: final, opcode 8, unmasked, the
// status code then the reason: at most 123 bytes of UTF-8, cut between two
// characters (a client fails the connection on invalid UTF-8).
func closeFrame(code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = strings.ToValidUTF8(reason[:123], "") // drops a character the cut split
	}
	return append([]byte{0x80 | wsOpClose, byte(2 + len(reason)), byte(code >> 8), byte(code)}, reason...)
}
