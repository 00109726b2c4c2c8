package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-dap"
)

// fakeDelve is a DAP server that records the requests it gets and answers
// each with success, as delve does; setBreakpoints is answered verified at
// the lines asked, with ids, but for the lines in unbound. before, when set,
// runs before a request is answered, on its connection (to send an event
// first); commands in silent get no answer, those in failing a failure
// (that many times; -1: always).
type fakeDelve struct {
	t        *testing.T
	addr     string
	listener net.Listener
	unbound  map[int]bool
	silent   map[string]bool
	failing  map[string]int
	before   func(conn net.Conn, command string)

	mu       sync.Mutex
	requests []message
	conns    []net.Conn
	bpIDs    int
}

func startFakeDelve(t *testing.T) *fakeDelve {
	return startFakeDelveWith(t, func(*fakeDelve) {})
}

// startFakeDelveWith starts a fake delve after configure has set its
// options.
func startFakeDelveWith(t *testing.T, configure func(*fakeDelve)) *fakeDelve {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDelve{t: t, addr: l.Addr().String(), listener: l, unbound: map[int]bool{}, silent: map[string]bool{}, failing: map[string]int{}}
	configure(d)
	t.Cleanup(d.stop)
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
		command := m.str("command")
		d.mu.Lock()
		d.requests = append(d.requests, m)
		var body any
		if command == "setBreakpoints" {
			var a struct{ Breakpoints []struct{ Line int } }
			_ = json.Unmarshal(m["arguments"], &a)
			bps := []map[string]any{}
			for _, bp := range a.Breakpoints {
				d.bpIDs++
				if d.unbound[bp.Line] {
					bps = append(bps, map[string]any{"id": d.bpIDs, "verified": false, "message": "no code at this line"})
				} else {
					bps = append(bps, map[string]any{"id": d.bpIDs, "verified": true, "line": bp.Line})
				}
			}
			body = map[string]any{"breakpoints": bps}
		}
		fails := d.failing[command] != 0
		if d.failing[command] > 0 {
			d.failing[command]--
		}
		d.mu.Unlock()
		if d.before != nil {
			d.before(conn, command)
		}
		if d.silent[command] {
			continue
		}
		r := response(m, true, "", body)
		if fails {
			r = response(m, false, "failed", nil)
		}
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
		sendEvent(c, name, body)
	}
}

func sendEvent(c net.Conn, name string, body any) {
	e := event(name, body)
	e.set("seq", 1000)
	_ = dap.WriteBaseMessage(c, e.bytes())
}

// stop is the delve exiting: its port closes, and every connection.
func (d *fakeDelve) stop() {
	d.listener.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
}

// commands lists the commands received, with setBreakpoints' lines and
// the arguments of continue, pause and disconnect.
func (d *fakeDelve) commands() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, m := range d.requests {
		c := m.str("command")
		switch c {
		case "setBreakpoints":
			var a struct{ Breakpoints []struct{ Line int } }
			_ = json.Unmarshal(m["arguments"], &a)
			lines := []string{}
			for _, bp := range a.Breakpoints {
				lines = append(lines, fmt.Sprint(bp.Line))
			}
			c += "[" + strings.Join(lines, ",") + "]"
		case "continue", "pause", "disconnect":
			c += string(m["arguments"])
		}
		out = append(out, c)
	}
	return out
}

func (d *fakeDelve) got() string { return strings.Join(d.commands(), " ") }

// editor is a DAP client speaking as VS Code does.
type editor struct {
	t      *testing.T
	conn   net.Conn
	reader *bufio.Reader
	seq    int
	lastIn int // the seq of the last message from the relay
}

// startRelay starts a relay whose builds compile the files in watched.
func startRelay(t *testing.T, watched string) (*relay, string, *syncBuffer) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	r := newRelay(l, watched, slog.New(slog.NewTextHandler(log, nil)))
	t.Cleanup(r.close)
	return r, l.Addr().String(), log
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
	m := request(command, nil)
	m.set("seq", e.seq)
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

// readEvent reads until an event named name, failing on one in refused.
func (e *editor) readEvent(name string, refused ...string) message {
	e.t.Helper()
	for {
		m := e.read()
		if slices.Contains(refused, m.str("event")) {
			e.t.Fatalf("the editor received %v", m)
		}
		if m.str("event") == name {
			return m
		}
	}
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

func (e *editor) setBreakpoints(file string, lines ...int) message {
	e.t.Helper()
	bps := []map[string]int{}
	for _, l := range lines {
		bps = append(bps, map[string]int{"line": l})
	}
	return e.call("setBreakpoints", map[string]any{"source": map[string]any{"path": file}, "breakpoints": bps})
}

// attach configures the session as VS Code does, with the editor's
// checkout at /host/proj, the container's at src.
func (e *editor) attach(src, file string, line int) {
	e.t.Helper()
	e.call("initialize", map[string]any{"adapterID": "go"})
	e.call("attach", map[string]any{"request": "attach", "mode": "remote",
		"substitutePath": []map[string]string{{"from": "/host/proj", "to": src}}})
	e.setBreakpoints(file, line)
	e.call("configurationDone", nil)
}

// breakpointsOf is the breakpoints of a setBreakpoints response, or of a
// breakpoint event.
func breakpointsOf(m message) []shownBreakpoint {
	var body struct {
		Breakpoints []shownBreakpoint
		Breakpoint  *shownBreakpoint
	}
	_ = json.Unmarshal(m["body"], &body)
	if body.Breakpoint != nil {
		return []shownBreakpoint{*body.Breakpoint}
	}
	return body.Breakpoints
}

const handlersFile = "/host/proj/app/handlers.go"

// attached is a relay in front of a delve, and an editor attached through
// it with a breakpoint at handlers.go:12.
func attached(t *testing.T) (*relay, *editor, *fakeDelve) {
	r, addr, _ := startRelay(t, t.TempDir())
	d := startFakeDelve(t)
	r.switchTo(d.addr)
	e := dialEditor(t, addr)
	e.attach("/src", handlersFile, 12)
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
	first.stop()
	// The next request goes to the new delve, answered under the editor's number.
	resp := e.call("threads", nil)
	if !strings.Contains(second.got(), "threads") {
		t.Fatalf("the request after the switch did not reach the new delve: %v", second.commands())
	}
	if resp.str("command") != "threads" {
		t.Errorf("response %v", resp)
	}
}

// sourcesOnDisk is a watched directory holding app/handlers.go, and the
// file's path in it.
func sourcesOnDisk(t *testing.T) (src, file string) {
	src = t.TempDir()
	file = filepath.Join(src, "app", "handlers.go")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("package main\n\nfunc a() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return src, file
}

func TestRelayABreakpointForAChangedFileWaitsForTheNextBuild(t *testing.T) {
	src, file := sourcesOnDisk(t)
	r, addr, _ := startRelay(t, src)
	old, next := startFakeDelve(t), startFakeDelve(t)
	r.compiling()
	r.switchTo(old.addr)
	e := dialEditor(t, addr)
	e.attach(src, handlersFile, 3)
	if !strings.Contains(old.got(), "setBreakpoints[3]") {
		t.Fatalf("a breakpoint in a file the serving build compiled as it is did not apply at once: %s", old.got())
	}

	// A save that adds lines above: the editor sends the moved line at once,
	// while the old build still serves.
	if err := os.WriteFile(file, []byte("package main\n\n// added\n// added\nfunc a() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp := e.setBreakpoints(handlersFile, 5)
	bps := breakpointsOf(resp)
	if len(bps) != 1 || bps[0].Verified || bps[0].Line != 5 || bps[0].ID == 0 {
		t.Fatalf("the editor was told %+v; want its breakpoint at line 5, not verified yet, with an id", bps)
	}
	if strings.Contains(old.got(), "[5]") {
		t.Fatalf("the old build got the new code's line: %s", old.got())
	}
	if !strings.HasSuffix(old.got(), "setBreakpoints[3] configurationDone setBreakpoints[]") {
		t.Errorf("the old build got %s; want the file's breakpoints cleared there, as the editor shows them not verified", old.got())
	}
	e.call("threads", nil) // the old build still takes the editor's other requests

	r.compiling() // the save's build
	go r.switchTo(next.addr)
	changed := e.readEvent("breakpoint")
	if got := breakpointsOf(changed); len(got) != 1 || !got[0].Verified || got[0].Line != 5 || got[0].ID != bps[0].ID {
		t.Errorf("once the new build took over the editor was told %+v; want breakpoint %d verified at line 5", got, bps[0].ID)
	}
	if got := next.got(); !strings.Contains(got, "setBreakpoints[5]") || strings.Contains(got, "[3]") {
		t.Errorf("the new build got %s; want the breakpoint at line 5 only", got)
	}
}

// The user's trial: the editor knows the breakpoint of a save by the id
// the relay gave it, and the new build's delve numbers it its own way.
func TestRelayTheEditorHearsOfBreakpointsByTheIDsItWasGiven(t *testing.T) {
	src, file := sourcesOnDisk(t)
	r, addr, _ := startRelay(t, src)
	old := startFakeDelve(t)
	next := startFakeDelveWith(t, func(d *fakeDelve) { d.bpIDs = 40 })
	r.compiling()
	r.switchTo(old.addr)
	e := dialEditor(t, addr)
	e.attach(src, handlersFile, 3)
	if err := os.WriteFile(file, []byte("package main\n\n// added\n// added\nfunc a() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	held := breakpointsOf(e.setBreakpoints(handlersFile, 5))[0].ID

	r.compiling()
	go r.switchTo(next.addr)
	if got := breakpointsOf(e.readEvent("breakpoint"))[0].ID; got != held {
		t.Errorf("the replay's breakpoint event names %d; want %d, the editor's", got, held)
	}
	next.emit("stopped", map[string]any{"reason": "breakpoint", "threadId": 1, "hitBreakpointIds": []int{41}})
	var body struct{ HitBreakpointIds []int }
	_ = json.Unmarshal(e.readEvent("stopped")["body"], &body)
	if !slices.Equal(body.HitBreakpointIds, []int{held}) {
		t.Errorf("the stop says breakpoints %v were hit; want [%d], the editor's", body.HitBreakpointIds, held)
	}
	next.emit("breakpoint", map[string]any{"reason": "changed", "breakpoint": map[string]any{"id": 41, "verified": true, "line": 6}})
	if got := breakpointsOf(e.readEvent("breakpoint"))[0]; got.ID != held || got.Line != 6 {
		t.Errorf("delve's breakpoint event reached the editor as %+v; want breakpoint %d at line 6", got, held)
	}
}

func TestRelayMovesAClientInEveryStateAcrossASwitch(t *testing.T) {
	for _, tc := range []struct {
		state  string
		before []string // what the editor sent before the switch
		want   string   // what the new delve has once the editor sent its next request
	}{
		{"connected, silent", nil, "initialize"},
		{"initialized", []string{"initialize"}, "initialize attach"},
		{"attached", []string{"initialize", "attach"}, "initialize attach threads"},
	} {
		t.Run(tc.state, func(t *testing.T) {
			r, addr, _ := startRelay(t, t.TempDir())
			old, next := startFakeDelve(t), startFakeDelve(t)
			r.switchTo(old.addr)
			e := dialEditor(t, addr)
			if len(tc.before) == 0 {
				// Its build is decided once it speaks, not when it connected.
				eventually(t, "the relay waiting for the client to speak", func() bool { return r.silent.Load() == 1 })
			}
			for _, command := range tc.before {
				e.call(command, map[string]any{})
			}
			r.switchTo(next.addr)
			old.stop()
			following := map[int]string{0: "initialize", 1: "attach", 2: "threads"}[len(tc.before)]
			if resp := e.call(following, map[string]any{}); !resp.succeeded() {
				t.Errorf("after the switch %s got %v", following, resp)
			}
			if got := next.got(); got != tc.want {
				t.Errorf("the new delve got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRelayEventsOfTheNewDelveDuringTheReplayReachTheEditorAfterIt(t *testing.T) {
	r, e, old := attached(t)
	old.emit("stopped", map[string]any{"reason": "breakpoint", "threadId": 7})
	e.readEvent("stopped")
	next := startFakeDelveWith(t, func(d *fakeDelve) {
		d.before = func(conn net.Conn, command string) {
			switch command {
			case "attach":
				sendEvent(conn, "initialized", map[string]any{})
			case "configurationDone":
				// A goroutine of the new build reaches a breakpoint before the
				// replay ends.
				sendEvent(conn, "stopped", map[string]any{"reason": "breakpoint", "threadId": 3})
			}
		}
	})
	go r.switchTo(next.addr)
	// What the replay tells first (the old build's stop is gone), then the
	// new build's stop: the other way round, the editor would show the new
	// stop continued.
	e.readEvent("continued", "initialized", "stopped")
	stopped := e.readEvent("stopped", "initialized")
	var body struct{ ThreadID int }
	_ = json.Unmarshal(stopped["body"], &body)
	if body.ThreadID != 3 {
		t.Errorf("the editor got %v", stopped)
	}
	// The stop counts as the editor's: an editor that vanishes now leaves
	// the new build running.
	e.conn.Close()
	eventually(t, "the halted thread resumed", func() bool { return strings.Contains(next.got(), `continue{"threadId":3}`) })
}

func TestRelayABreakpointThatNoLongerBindsIsReported(t *testing.T) {
	r, e, _ := attached(t)
	next := startFakeDelveWith(t, func(d *fakeDelve) { d.unbound[12] = true })
	go r.switchTo(next.addr)
	m := e.readEvent("breakpoint")
	if bps := breakpointsOf(m); len(bps) != 1 || bps[0].Verified || bps[0].ID != 1 {
		t.Errorf("the editor was told %v; want its breakpoint 1 not verified", m)
	}
	line := e.readEvent("output")
	if !strings.Contains(string(line["body"]), "does not bind in build 2") {
		t.Errorf("the debug console got %s", line["body"])
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

func TestRelayAMoveThatFailsIsToldAndLogged(t *testing.T) {
	r, addr, log := startRelay(t, t.TempDir())
	d := startFakeDelve(t)
	r.switchTo(d.addr)
	e := dialEditor(t, addr)
	e.attach("/src", handlersFile, 12)
	gone := startFakeDelve(t)
	gone.stop() // a delve that exited as its build took over

	go r.switchTo(gone.addr)
	m := e.readEvent("output")
	if !strings.Contains(string(m["body"]), "could not follow build 2") {
		t.Errorf("the editor was told %s", m["body"])
	}
	eventually(t, "the reason in the log", func() bool {
		return strings.Contains(log.String(), "could not follow") && strings.Contains(log.String(), "connection refused")
	})
}

func TestRelayAReplayThatFailsLeavesNothingInTheNewBuild(t *testing.T) {
	r, e, _ := attached(t)
	next := startFakeDelveWith(t, func(d *fakeDelve) {
		d.failing["configurationDone"] = -1
		d.before = func(conn net.Conn, command string) {
			if command == "configurationDone" {
				// The replayed breakpoint is hit before the replay fails.
				sendEvent(conn, "stopped", map[string]any{"reason": "breakpoint", "threadId": 3})
			}
		}
	})
	r.switchTo(next.addr)
	// switchTo returned: the new build may take requests, and nobody is
	// attached to it.
	want := []string{"setBreakpoints[]", `continue{"threadId":3}`, `disconnect{"suspendDebuggee":false,"terminateDebuggee":false}`}
	if got := next.commands(); len(got) < 3 || !slices.Equal(got[len(got)-3:], want) {
		t.Errorf("the new build's delve got %v; want it to end with %v", got, want)
	}
	m := e.readEvent("output", "stopped")
	if !strings.Contains(string(m["body"]), "could not follow build 2") {
		t.Errorf("the editor was told %s", m["body"])
	}
}

func TestRelayARequestDelveWillNotAnswerIsAnswered(t *testing.T) {
	r, addr, _ := startRelay(t, t.TempDir())
	d := startFakeDelveWith(t, func(d *fakeDelve) { d.silent["evaluate"] = true })
	r.switchTo(d.addr)
	e := dialEditor(t, addr)
	e.attach("/src", handlersFile, 12)
	seq := e.send("evaluate", map[string]any{"expression": "1"})
	eventually(t, "delve got the request", func() bool { return strings.Contains(d.got(), "evaluate") })
	d.stop() // its build went away
	for {
		m := e.read()
		if m.str("type") == "response" && m.int("request_seq") == seq {
			if m.succeeded() {
				t.Errorf("got %v", m)
			}
			return
		}
	}
}

func TestRelayAVanishedEditorLeavesNoBreakpointAndNothingHalted(t *testing.T) {
	_, e, d := attached(t)
	d.emit("stopped", map[string]any{"reason": "breakpoint", "threadId": 7})
	e.readEvent("stopped")
	e.conn.Close() // a closed window, with no disconnect
	want := []string{"setBreakpoints[]", `continue{"threadId":7}`, `disconnect{"suspendDebuggee":false,"terminateDebuggee":false}`}
	eventually(t, "the session cleared", func() bool {
		got := d.commands()
		return len(got) >= 3 && slices.Equal(got[len(got)-3:], want)
	})
}

// refusingConn is the relay's end of an editor's connection, whose writes
// fail once refuse is set: as they do when an editor whose network dropped
// without a close has taken nothing for editorDeadline.
type refusingConn struct {
	net.Conn
	refuse atomic.Bool
}

func (c *refusingConn) Write(b []byte) (int, error) {
	if c.refuse.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	return c.Conn.Write(b)
}

func TestRelayAnEditorThatTakesNothingEndsItsSession(t *testing.T) {
	d := startFakeDelve(t)
	ours, theirs := net.Pipe()
	t.Cleanup(func() { theirs.Close() })
	conn := &refusingConn{Conn: ours}
	s := newSession(conn, bufio.NewReader(conn), slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.moveTo(build{n: 1, delve: d.addr})
	go s.run()
	e := &editor{t: t, conn: theirs, reader: bufio.NewReader(theirs)}
	e.attach("/src", handlersFile, 12)
	d.emit("stopped", map[string]any{"reason": "breakpoint", "threadId": 7})
	e.readEvent("stopped")

	conn.refuse.Store(true)
	s.console("console", "devloop: build 2 serving")
	want := []string{"setBreakpoints[]", `continue{"threadId":7}`, `disconnect{"suspendDebuggee":false,"terminateDebuggee":false}`}
	eventually(t, "the session cleared", func() bool {
		got := d.commands()
		return len(got) >= 3 && slices.Equal(got[len(got)-3:], want)
	})
}

func TestRelayAnEditorThatVanishesDuringAMoveIsClearedWithoutWaitingForIt(t *testing.T) {
	r, e, old := attached(t)
	stuck := make(chan struct{})
	next := startFakeDelveWith(t, func(d *fakeDelve) {
		d.before = func(_ net.Conn, command string) {
			if command == "attach" {
				<-stuck // a delve slow to answer: the move holds the session
			}
		}
	})
	t.Cleanup(func() { close(stuck) })
	go r.switchTo(next.addr)
	eventually(t, "the replay under way", func() bool { return strings.Contains(next.got(), "attach") })
	e.conn.Close()
	want := []string{"setBreakpoints[]", `disconnect{"suspendDebuggee":false,"terminateDebuggee":false}`}
	eventually(t, "the session cleared in the build it was on", func() bool {
		got := old.commands()
		return len(got) >= 2 && slices.Equal(got[len(got)-2:], want)
	})
}

func TestRelayAnEditorThatVanishesDuringAStepLeavesTheAppRunning(t *testing.T) {
	r, addr, _ := startRelay(t, t.TempDir())
	// delve refuses the first continue after a pause: the step it halted
	// is winding down.
	d := startFakeDelveWith(t, func(d *fakeDelve) { d.failing["continue"] = 1 })
	r.switchTo(d.addr)
	e := dialEditor(t, addr)
	e.attach("/src", handlersFile, 12)
	d.emit("stopped", map[string]any{"reason": "breakpoint", "threadId": 7})
	e.readEvent("stopped")
	e.call("next", map[string]any{"threadId": 7})
	e.conn.Close() // before the step ends
	want := []string{"setBreakpoints[]", `pause{"threadId":7}`, `continue{"threadId":7}`, `continue{"threadId":7}`, `disconnect{"suspendDebuggee":false,"terminateDebuggee":false}`}
	eventually(t, "the session cleared", func() bool {
		got := d.commands()
		return len(got) >= len(want) && slices.Equal(got[len(got)-len(want):], want)
	})
}

func TestRelayDisconnectClearsBreakpointsAndLeavesTheAppRunning(t *testing.T) {
	r, addr, _ := startRelay(t, t.TempDir())
	d := startFakeDelveWith(t, func(d *fakeDelve) {
		d.before = func(conn net.Conn, command string) {
			if command == "disconnect" {
				// A multi-client delve ends the client's session, not the app.
				sendEvent(conn, "terminated", map[string]any{})
			}
		}
	})
	r.switchTo(d.addr)
	e := dialEditor(t, addr)
	e.attach("/src", handlersFile, 12)
	// VS Code's stop button asks to end the debuggee.
	seq := e.send("disconnect", map[string]any{"restart": false, "terminateDebuggee": true})
	for {
		m := e.read()
		if m.str("type") == "response" && m.int("request_seq") == seq {
			break
		}
		if strings.Contains(string(m["body"]), "app exited") {
			t.Errorf("the editor was told %s: the app serves on", m["body"])
		}
	}
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
	r.console("console", "devloop: build 2 serving")
	m := e.read()
	var body struct{ Category, Output string }
	_ = json.Unmarshal(m["body"], &body)
	if m.str("event") != "output" || body.Category != "console" || body.Output != "devloop: build 2 serving\n" {
		t.Fatalf("got %v", m)
	}
}

func TestRelayPipesDelvesOwnAPIAsItIs(t *testing.T) {
	r, addr, _ := startRelay(t, t.TempDir())
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

func TestRelayARequestUnderWayWhenTheSessionMovesIsAnsweredAndReplayed(t *testing.T) {
	r, addr, _ := startRelay(t, t.TempDir())
	release := make(chan struct{})
	old := startFakeDelveWith(t, func(d *fakeDelve) {
		d.before = func(_ net.Conn, command string) {
			if command == "initialize" {
				<-release
			}
		}
	})
	var oldAnsweredFirst atomic.Bool
	next := startFakeDelveWith(t, func(d *fakeDelve) {
		d.before = func(_ net.Conn, command string) {
			if command == "initialize" {
				select {
				case <-release:
					oldAnsweredFirst.Store(true)
				default:
				}
			}
		}
	})
	r.switchTo(old.addr)
	e := dialEditor(t, addr)
	seq := e.send("initialize", map[string]any{"adapterID": "go"})
	eventually(t, "the old delve got initialize", func() bool { return old.got() == "initialize" })
	go r.switchTo(next.addr)
	eventually(t, "the switch under way", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.serving.n == 2
	})
	close(release)
	for {
		m := e.read()
		if m.str("type") == "response" && m.int("request_seq") == seq {
			if !m.succeeded() {
				t.Fatalf("the editor's initialize, under way as the session moved, got %v", m)
			}
			break
		}
	}
	eventually(t, "the new delve got initialize", func() bool { return next.got() == "initialize" })
	if !oldAnsweredFirst.Load() {
		t.Error("the session moved before the old delve answered the request under way")
	}
}
