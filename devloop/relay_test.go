package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-dap"
)

// fakeDelve is a DAP server that records the requests it gets and answers
// each with success, as delve does; setBreakpoints is answered verified at
// the lines asked.
type fakeDelve struct {
	t        *testing.T
	addr     string
	mu       sync.Mutex
	requests []message
	conns    []net.Conn
}

func startFakeDelve(t *testing.T) *fakeDelve {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDelve{t: t, addr: l.Addr().String()}
	t.Cleanup(func() { l.Close(); d.closeAll() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.conns = append(d.conns, conn)
			d.mu.Unlock()
			go d.serve(conn)
		}
	}()
	return d
}

func (d *fakeDelve) serve(conn net.Conn) {
	reader := bufio.NewReader(conn)
	seq := 0
	for {
		raw, err := dap.ReadBaseMessage(reader)
		if err != nil {
			return
		}
		m, _ := parse(raw)
		d.mu.Lock()
		d.requests = append(d.requests, m)
		d.mu.Unlock()
		var body any
		if m.str("command") == "setBreakpoints" {
			var a struct{ Breakpoints []struct{ Line int } }
			_ = json.Unmarshal(m["arguments"], &a)
			var bps []map[string]any
			for _, bp := range a.Breakpoints {
				bps = append(bps, map[string]any{"verified": true, "line": bp.Line})
			}
			body = map[string]any{"breakpoints": bps}
		}
		r := response(m, true, "", body)
		seq++
		r.set("seq", seq)
		_ = dap.WriteBaseMessage(conn, r.bytes())
	}
}

// emit sends an event on every connection.
func (d *fakeDelve) emit(name string, body any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		e := event(name, body)
		e.set("seq", 1000)
		_ = dap.WriteBaseMessage(c, e.bytes())
	}
}

func (d *fakeDelve) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
}

// commands lists the commands received, with setBreakpoints' lines.
func (d *fakeDelve) commands() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, m := range d.requests {
		c := m.str("command")
		if c == "setBreakpoints" {
			var a struct{ Breakpoints []struct{ Line int } }
			_ = json.Unmarshal(m["arguments"], &a)
			lines := []string{}
			for _, bp := range a.Breakpoints {
				lines = append(lines, fmt.Sprint(bp.Line))
			}
			c += "[" + strings.Join(lines, ",") + "]"
		}
		if c == "disconnect" {
			c += string(m["arguments"])
		}
		out = append(out, c)
	}
	return out
}

// editor is a DAP client speaking as VS Code does.
type editor struct {
	t      *testing.T
	conn   net.Conn
	reader *bufio.Reader
	seq    int
	lastIn int // the seq of the last message from the relay
}

func startRelay(t *testing.T) (*relay, string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := newRelay(l, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(r.close)
	return r, l.Addr().String()
}

func dialEditor(t *testing.T, addr string) *editor {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &editor{t: t, conn: conn, reader: bufio.NewReader(conn)}
}

func (e *editor) send(command string, args any) int {
	e.seq++
	m := message{}
	m.set("seq", e.seq)
	m.set("type", "request")
	m.set("command", command)
	if args != nil {
		m.set("arguments", args)
	}
	if err := dap.WriteBaseMessage(e.conn, m.bytes()); err != nil {
		e.t.Fatal(err)
	}
	return e.seq
}

// read returns the next message, checking the relay numbers them in order.
func (e *editor) read() message {
	e.t.Helper()
	_ = e.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, err := dap.ReadBaseMessage(e.reader)
	if err != nil {
		e.t.Fatalf("reading from the relay: %v", err)
	}
	m, _ := parse(raw)
	if seq := m.int("seq"); seq <= e.lastIn {
		e.t.Errorf("the relay numbered a message %d after %d", seq, e.lastIn)
	}
	e.lastIn = m.int("seq")
	return m
}

// call sends a request and returns its response, failing on a terminated
// or exited event on the way.
func (e *editor) call(command string, args any) message {
	e.t.Helper()
	seq := e.send(command, args)
	for {
		m := e.read()
		if ev := m.str("event"); ev == "terminated" || ev == "exited" {
			e.t.Fatalf("the editor received %s", ev)
		}
		if m.str("type") == "response" && m.int("request_seq") == seq {
			return m
		}
	}
}

func (e *editor) attach(t *testing.T, file string, line int) {
	e.call("initialize", map[string]any{"adapterID": "go"})
	e.call("attach", map[string]any{"request": "attach", "mode": "remote"})
	e.call("setBreakpoints", map[string]any{"source": map[string]any{"path": file}, "breakpoints": []map[string]int{{"line": line}}})
	e.call("configurationDone", nil)
}

// attached is a relay in front of a delve, and an editor attached through
// it with a breakpoint at handlers.go:12.
func attached(t *testing.T) (*relay, *editor, *fakeDelve) {
	r, addr := startRelay(t)
	d := startFakeDelve(t)
	r.switchTo(d.addr)
	e := dialEditor(t, addr)
	e.attach(t, "/src/app/handlers.go", 12)
	return r, e, d
}

func TestRelayReplaysTheSessionIntoTheNewDelveBeforeItServes(t *testing.T) {
	r, e, first := attached(t)
	second := startFakeDelve(t)

	r.switchTo(second.addr)
	// switchTo returned: the new delve has the whole session already.
	want := []string{"initialize", "attach", "setBreakpoints[12]", "configurationDone"}
	if got := second.commands(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the new delve got %v, want %v", got, want)
	}
	// The old delve's app drains and exits: the editor hears nothing of it.
	first.emit("terminated", map[string]any{})
	first.emit("exited", map[string]any{"exitCode": 0})
	first.closeAll()
	// The next request goes to the new delve, answered under the editor's number.
	resp := e.call("threads", nil)
	if !strings.Contains(strings.Join(second.commands(), " "), "threads") {
		t.Fatalf("the request after the switch did not reach the new delve: %v", second.commands())
	}
	if resp.str("command") != "threads" {
		t.Errorf("response %v", resp)
	}
}

func TestRelayABreakpointMovedBySaveBindsInTheNextBuild(t *testing.T) {
	r, e, old := attached(t)
	next := startFakeDelve(t)

	// VS Code after a save whose edit moved the breakpoint to line 13.
	resp := e.call("setBreakpoints", map[string]any{"source": map[string]any{"path": "/src/app/handlers.go"},
		"breakpoints": []map[string]int{{"line": 13}}, "sourceModified": true})
	var body struct{ Breakpoints []struct{ Line int } }
	_ = json.Unmarshal(resp["body"], &body)
	if len(body.Breakpoints) != 1 || body.Breakpoints[0].Line != 13 {
		t.Errorf("the editor was told its breakpoint is at %+v; want line 13, where it shows it", body.Breakpoints)
	}
	if got := strings.Join(old.commands(), " "); strings.Contains(got, "[13]") {
		t.Errorf("the old build got the new code's line: %s", got)
	}
	r.switchTo(next.addr)
	if got := strings.Join(next.commands(), " "); !strings.Contains(got, "setBreakpoints[13]") || strings.Contains(got, "[12]") {
		t.Errorf("the new build got %s; want the breakpoint at line 13 only", got)
	}
}

func TestRelayAnEditorStoppedInTheOldBuildSeesItRunning(t *testing.T) {
	r, e, old := attached(t)
	next := startFakeDelve(t)
	old.emit("stopped", map[string]any{"reason": "breakpoint", "threadId": 7})
	if m := e.read(); m.str("event") != "stopped" {
		t.Fatalf("got %v, want the stopped event", m)
	}
	go r.switchTo(next.addr)
	m := e.read()
	var body struct {
		ThreadID            int
		AllThreadsContinued bool
	}
	_ = json.Unmarshal(m["body"], &body)
	if m.str("event") != "continued" || body.ThreadID != 7 || !body.AllThreadsContinued {
		t.Fatalf("after the switch the editor got %v; want continued for thread 7, all threads", m)
	}
}

func TestRelayDisconnectClearsBreakpointsAndLeavesTheAppRunning(t *testing.T) {
	_, e, d := attached(t)
	// VS Code's stop button asks to end the debuggee.
	e.call("disconnect", map[string]any{"restart": false, "terminateDebuggee": true})
	got := d.commands()
	last := got[len(got)-2:]
	if last[0] != "setBreakpoints[]" {
		t.Errorf("before disconnecting, delve got %v; want the breakpoints cleared", got)
	}
	if !strings.HasPrefix(last[1], "disconnect") || !strings.Contains(last[1], `"terminateDebuggee":false`) {
		t.Errorf("delve was told %s; want terminateDebuggee false: the app goes on serving", last[1])
	}
}

func TestRelaySaysEachReloadInTheDebugConsole(t *testing.T) {
	r, e, _ := attached(t)
	eventually(t, "the session registered", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.sessions) == 1
	})
	r.say("console", "devloop: build 2 serving")
	m := e.read()
	var body struct{ Category, Output string }
	_ = json.Unmarshal(m["body"], &body)
	if m.str("event") != "output" || body.Category != "console" || body.Output != "devloop: build 2 serving\n" {
		t.Fatalf("got %v", m)
	}
}

func TestRelayPipesDelvesOwnAPIAsItIs(t *testing.T) {
	r, addr := startRelay(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		line, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "echo "+line)
		c.Close()
	}()
	r.switchTo(l.Addr().String())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, `{"method":"RPCServer.State","params":[{}],"id":0}`+"\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), `echo {"method":"RPCServer.State"`) {
		t.Fatalf("a JSON-RPC client got %q", got)
	}
}
