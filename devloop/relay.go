package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-dap"
)

// relay is the debug port (2345 in the debug service). Every build runs
// under a delve of its own, so an editor attached straight to delve would
// lose its session at every save. The relay holds the editor's connection
// instead: it passes the session to the newest delve and, when a new build
// takes over, replays the session into the new delve (initialize, attach,
// the last breakpoints of each file, configurationDone) before the new build
// gets any request. The editor stays attached: it never sees the old delve's
// terminated or exited events, only one line in its debug console per
// reload.
//
// It speaks the Debug Adapter Protocol (VS Code). A client speaking delve's
// own JSON-RPC API (GoLand, dlv connect) is piped to the newest delve as it
// is, and re-attaches after a save.
type relay struct {
	log      *slog.Logger
	listener net.Listener

	mu       sync.Mutex
	addr     string        // the newest delve
	changed  chan struct{} // closed and replaced on every switch
	sessions map[*session]struct{}
}

func newRelay(l net.Listener, logger *slog.Logger) *relay {
	r := &relay{log: logger, listener: l, changed: make(chan struct{}), sessions: map[*session]struct{}{}}
	go r.serve()
	return r
}

func (r *relay) close() { _ = r.listener.Close() }

// switchTo moves every attached editor to the delve at addr, then sends new
// connections there. It returns once the breakpoints are set in the new
// delve, so that its build may take requests.
func (r *relay) switchTo(addr string) {
	r.mu.Lock()
	r.addr = addr
	close(r.changed)
	r.changed = make(chan struct{})
	sessions := slices.Collect(maps.Keys(r.sessions))
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() { s.moveTo(addr) })
	}
	wg.Wait()
}

// say writes a line in every attached editor's debug console.
func (r *relay) say(category, text string) {
	r.mu.Lock()
	sessions := slices.Collect(maps.Keys(r.sessions))
	r.mu.Unlock()
	for _, s := range sessions {
		s.output(category, text)
	}
}

// target is the newest delve, waiting for the first one.
func (r *relay) target(ctx context.Context) string {
	for {
		r.mu.Lock()
		addr, changed := r.addr, r.changed
		r.mu.Unlock()
		if addr != "" {
			return addr
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ""
		}
	}
}

func (r *relay) serve() {
	for {
		conn, err := r.listener.Accept()
		if err != nil {
			return
		}
		go r.handle(conn)
	}
}

func (r *relay) handle(conn net.Conn) {
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), firstBuildWait)
	addr := r.target(ctx)
	cancel()
	if addr == "" {
		return
	}
	reader := bufio.NewReader(conn)
	// Both protocols have the client speak first: DAP with a header,
	// delve's JSON-RPC with a JSON object.
	if head, err := reader.Peek(len("Content-Length")); err != nil || string(head) != "Content-Length" {
		pipe(conn, reader, addr)
		return
	}
	s := &session{log: r.log, editor: conn, reader: reader, breakpoints: map[string]json.RawMessage{}}
	up, err := s.dial(addr)
	if err != nil {
		return
	}
	s.up.Store(up)
	r.mu.Lock()
	r.sessions[s] = struct{}{}
	r.mu.Unlock()
	s.run()
	r.mu.Lock()
	delete(r.sessions, s)
	r.mu.Unlock()
	s.up.Load().close()
}

// pipe copies bytes both ways between a client and the delve at addr.
func pipe(client net.Conn, fromClient io.Reader, addr string) {
	upstream, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	defer upstream.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, fromClient); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, upstream); done <- struct{}{} }()
	<-done // either side closing ends both
}

// session is one editor's DAP session, and what it takes to replay it.
type session struct {
	log    *slog.Logger
	editor net.Conn
	reader *bufio.Reader

	writeMu sync.Mutex // messages to the editor, numbered in order
	seq     int

	up     atomic.Pointer[upstream] // the delve requests go to
	moveMu sync.Mutex               // a request is sent, or the session moves: not both

	stateMu     sync.Mutex
	initialize  json.RawMessage            // the arguments of each, as the editor sent them
	attach      json.RawMessage            //
	breakpoints map[string]json.RawMessage // setBreakpoints, the last for each source path
	functions   json.RawMessage            // setFunctionBreakpoints
	exceptions  json.RawMessage            // setExceptionBreakpoints
	configured  bool                       // configurationDone was sent
	stopped     int                        // the thread the editor shows stopped, or 0
}

// run reads the editor's requests until it disconnects.
func (s *session) run() {
	for {
		raw, err := dap.ReadBaseMessage(s.reader)
		if err != nil {
			return
		}
		m, err := parse(raw)
		if err != nil || m.str("type") != "request" {
			continue // the editor answering a request of delve's: none is used here
		}
		if done := s.request(m); done {
			return
		}
	}
}

// request records what the session needs for a replay, then sends m on.
func (s *session) request(m message) (done bool) {
	args := m["arguments"]
	s.stateMu.Lock()
	switch m.str("command") {
	case "initialize":
		s.initialize = args
	case "attach":
		s.attach = args
	case "setBreakpoints":
		var a struct {
			Source         struct{ Path string }
			SourceModified bool
		}
		_ = json.Unmarshal(args, &a)
		s.breakpoints[a.Source.Path] = args
		if a.SourceModified {
			// Sent after a save whose edit moved breakpoints: the lines are
			// the new code's, which the build under way will run. Binding
			// them in the old build would put them on other statements; the
			// new delve gets them when it takes over. The editor keeps the
			// lines it has: a response names where each breakpoint is.
			s.stateMu.Unlock()
			s.answerAsAsked(m)
			return false
		}
	case "setFunctionBreakpoints":
		s.functions = args
	case "setExceptionBreakpoints":
		s.exceptions = args
	case "configurationDone":
		s.configured = true
	case "continue", "next", "stepIn", "stepOut", "stepBack", "reverseContinue":
		s.stopped = 0
	case "disconnect":
		s.stateMu.Unlock()
		s.detach(m)
		return true
	}
	s.stateMu.Unlock()
	s.forward(m)
	return false
}

// forward sends a request of the editor's to the current delve.
func (s *session) forward(m message) {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	if err := s.up.Load().send(m); err != nil {
		s.fail(m, err)
	}
}

// answerAsAsked answers a setBreakpoints request with its own lines.
func (s *session) answerAsAsked(m message) {
	var a struct {
		Source      json.RawMessage
		Breakpoints []struct{ Line int }
	}
	_ = json.Unmarshal(m["arguments"], &a)
	type breakpoint struct {
		Verified bool            `json:"verified"`
		Line     int             `json:"line"`
		Source   json.RawMessage `json:"source,omitempty"`
	}
	body := struct {
		Breakpoints []breakpoint `json:"breakpoints"`
	}{Breakpoints: []breakpoint{}}
	for _, bp := range a.Breakpoints {
		body.Breakpoints = append(body.Breakpoints, breakpoint{Verified: true, Line: bp.Line, Source: a.Source})
	}
	s.toEditor(response(m, true, "", body))
}

// fail answers a request that could not reach a delve.
func (s *session) fail(m message, err error) {
	s.toEditor(response(m, false, "devloop: "+err.Error(), nil))
}

// detach is the editor's stop button: the breakpoints it set are cleared,
// so that no request halts the server with nobody watching, and delve is
// told to leave the server running, whatever the editor asked.
func (s *session) detach(m message) {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	up := s.up.Load()
	s.stateMu.Lock()
	files := slices.Collect(maps.Keys(s.breakpoints))
	functions := s.functions != nil
	s.stateMu.Unlock()
	for _, path := range files {
		_, _ = up.call("setBreakpoints", map[string]any{"source": map[string]string{"path": path}, "breakpoints": []any{}})
	}
	if functions {
		_, _ = up.call("setFunctionBreakpoints", map[string]any{"breakpoints": []any{}})
	}
	args := map[string]any{}
	_ = json.Unmarshal(m["arguments"], &args)
	args["terminateDebuggee"] = false
	args["suspendDebuggee"] = false
	reply, err := up.call("disconnect", args)
	if err != nil {
		s.fail(m, err)
		return
	}
	reply["request_seq"] = m["seq"]
	s.toEditor(reply)
}

// moveTo replays the session into the delve at addr and makes it the one
// requests go to. An editor that has not attached yet stays where it is.
func (s *session) moveTo(addr string) {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	s.stateMu.Lock()
	if s.attach == nil {
		s.stateMu.Unlock()
		return
	}
	replay := []replayed{{"initialize", s.initialize}, {"attach", s.attach}}
	for _, args := range s.breakpoints {
		replay = append(replay, replayed{"setBreakpoints", args})
	}
	if s.functions != nil {
		replay = append(replay, replayed{"setFunctionBreakpoints", s.functions})
	}
	if s.exceptions != nil {
		replay = append(replay, replayed{"setExceptionBreakpoints", s.exceptions})
	}
	if s.configured {
		replay = append(replay, replayed{"configurationDone", nil})
	}
	stopped := s.stopped
	s.stopped = 0
	s.stateMu.Unlock()

	up, err := s.dial(addr)
	if err != nil {
		s.log.Info("the debugger session could not follow the new build", "error", err)
		return
	}
	for _, r := range replay {
		// A file's breakpoints that no longer bind (the file is gone) do not
		// stop the rest.
		if _, err := up.call(r.command, r.args); err != nil && r.command != "setBreakpoints" {
			s.log.Info("the debugger session could not follow the new build", "command", r.command, "error", err)
			up.close()
			return
		}
	}
	old := s.up.Swap(up)
	old.close()
	if stopped != 0 {
		// The stopped frame was the old build's; it is gone.
		s.toEditor(event("continued", map[string]any{"threadId": stopped, "allThreadsContinued": true}))
	}
}

// replayed is a request of the session, sent again to a new delve.
type replayed struct {
	command string
	args    json.RawMessage
}

// output writes text in the editor's debug console.
func (s *session) output(category, text string) {
	s.toEditor(event("output", map[string]any{"category": category, "output": text + "\n"}))
}

// fromDelve passes a message of up's on to the editor.
func (s *session) fromDelve(up *upstream, m message) {
	switch m.str("type") {
	case "response":
		s.toEditor(m)
	case "event":
		if s.up.Load() != up {
			return // the old build's, or the new one's during the replay
		}
		switch m.str("event") {
		case "terminated", "exited":
			// The app of the current build exited by itself: the next save
			// starts a new one, and the session goes on.
			s.output("console", "devloop: the app exited; the next save starts it again")
			return
		case "stopped":
			var body struct{ ThreadID int }
			_ = json.Unmarshal(m["body"], &body)
			s.stateMu.Lock()
			s.stopped = max(body.ThreadID, 1)
			s.stateMu.Unlock()
		case "continued":
			s.stateMu.Lock()
			s.stopped = 0
			s.stateMu.Unlock()
		}
		s.toEditor(m)
	}
}

func (s *session) toEditor(m message) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.seq++
	m.set("seq", s.seq)
	_ = s.editor.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = dap.WriteBaseMessage(s.editor, m.bytes())
}

// upstream is a DAP connection to one delve. Requests get numbers of its
// own; each response goes back under the number the editor gave.
type upstream struct {
	conn    net.Conn
	session *session

	mu      sync.Mutex
	seq     int
	pending map[int]chan message // requests of the relay's own (replays), by number
	editors map[int]message      // the editor's requests, by number
	closed  bool
}

func (s *session) dial(addr string) (*upstream, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	up := &upstream{conn: conn, session: s, pending: map[int]chan message{}, editors: map[int]message{}}
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
		if m.str("type") == "response" {
			n := m.int("request_seq")
			up.mu.Lock()
			reply, ours := up.pending[n]
			request, theirs := up.editors[n]
			delete(up.pending, n)
			delete(up.editors, n)
			up.mu.Unlock()
			switch {
			case ours:
				reply <- m
				continue
			case theirs:
				m["request_seq"] = request["seq"]
			default:
				continue
			}
		}
		up.session.fromDelve(up, m)
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
	up.editors[up.seq] = m
	out := maps.Clone(m)
	out.set("seq", up.seq)
	return dap.WriteBaseMessage(up.conn, out.bytes())
}

// call sends a request of the relay's own and waits for its response.
func (up *upstream) call(command string, args any) (message, error) {
	reply := make(chan message, 1)
	up.mu.Lock()
	if up.closed {
		up.mu.Unlock()
		return nil, errReplaced
	}
	up.seq++
	n := up.seq
	up.pending[n] = reply
	m := message{}
	m.set("seq", n)
	m.set("type", "request")
	m.set("command", command)
	switch a := args.(type) {
	case json.RawMessage:
		if a != nil {
			m["arguments"] = a
		}
	case nil:
	default:
		m.set("arguments", a)
	}
	err := dap.WriteBaseMessage(up.conn, m.bytes())
	up.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case r, ok := <-reply:
		if !ok {
			return nil, errReplaced
		}
		var success bool
		if json.Unmarshal(r["success"], &success); !success {
			return r, fmt.Errorf("%s: %s", command, r.str("message"))
		}
		return r, nil
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("%s: no answer from delve", command)
	}
}

// close ends the connection; requests still waiting for an answer get an
// error, so the editor is never left waiting.
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
	for _, reply := range pending {
		close(reply)
	}
	for _, request := range editors {
		up.session.fail(request, errReplaced)
	}
}

// message is a DAP message kept as JSON fields, so that whatever the editor
// and delve send passes through untouched but for the numbers.
type message map[string]json.RawMessage

func parse(raw []byte) (message, error) {
	var m message
	err := json.Unmarshal(raw, &m)
	return m, err
}

func (m message) str(key string) string {
	var s string
	if json.Unmarshal(m[key], &s) != nil {
		return ""
	}
	return s
}

func (m message) int(key string) int {
	var n int
	_ = json.Unmarshal(m[key], &n)
	return n
}

func (m message) set(key string, v any) {
	raw, _ := json.Marshal(v)
	m[key] = raw
}

func (m message) bytes() []byte {
	raw, _ := json.Marshal(m)
	return raw
}

// response is the relay's own answer to request m.
func response(m message, success bool, errorMessage string, body any) message {
	r := message{"request_seq": m["seq"], "command": m["command"]}
	r.set("type", "response")
	r.set("success", success)
	if errorMessage != "" {
		r.set("message", errorMessage)
	}
	if body != nil {
		r.set("body", body)
	}
	return r
}

// event is an event of the relay's own.
func event(name string, body any) message {
	e := message{}
	e.set("type", "event")
	e.set("event", name)
	e.set("body", body)
	return e
}
