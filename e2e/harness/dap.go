package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/go-dap"
)

// DAP is a Debug Adapter Protocol client, speaking to delve as VS Code does.
type DAP struct {
	t      TB
	conn   net.Conn
	reader *bufio.Reader
	seq    int
	events []dap.Message  // events not yet asked for, in order
	counts map[string]int // every event read, by name
}

// DialDAP connects to the DAP server at addr and initializes the session
// as VS Code does, retrying until it answers: a port Docker publishes
// accepts connections even while nothing listens behind it (delve between
// two reloads), and closes them at once.
func DialDAP(t TB, addr string) *DAP {
	t.Helper()
	var d *DAP
	Eventually(t, time.Minute, "delve answering on "+addr, func() (bool, string) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		d = newDAP(t, conn)
		if err := d.initialize(); err != nil {
			conn.Close()
			return false, err.Error()
		}
		return true, ""
	})
	t.Cleanup(func() { d.conn.Close() })
	return d
}

// ConnectDAP opens a connection to addr and sends nothing: a client that
// takes its time before it speaks (Initialize), as GoLand and scripted
// clients may.
func ConnectDAP(t TB, addr string) *DAP {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return newDAP(t, conn)
}

func newDAP(t TB, conn net.Conn) *DAP {
	return &DAP{t: t, conn: conn, reader: bufio.NewReader(conn), counts: map[string]int{}}
}

// Initialize sends initialize as VS Code does, and waits for its answer.
func (d *DAP) Initialize() {
	d.t.Helper()
	if err := d.initialize(); err != nil {
		d.t.Fatalf("DAP initialize: %v", err)
	}
}

func (d *DAP) initialize() error {
	d.seq++
	raw, _ := json.Marshal(map[string]any{"seq": d.seq, "type": "request", "command": "initialize",
		"arguments": map[string]any{"adapterID": "go", "pathFormat": "path", "linesStartAt1": true, "columnsStartAt1": true}})
	_ = d.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := dap.WriteBaseMessage(d.conn, raw); err != nil {
		return err
	}
	for {
		msg, err := dap.ReadProtocolMessage(d.reader)
		if err != nil {
			return err
		}
		if resp, ok := msg.(*dap.InitializeResponse); ok {
			if !resp.Success {
				return fmt.Errorf("initialize: %s", resp.Message)
			}
			return nil
		}
		d.events = append(d.events, msg)
	}
}

// Vanish closes the connection without a disconnect: a window closed, an
// editor that crashed, a network that dropped.
func (d *DAP) Vanish() { d.conn.Close() }

// Request sends command with arguments (any JSON-encodable value) and
// returns the response, keeping the events that arrive before it. A response
// with success false ends the test.
func (d *DAP) Request(command string, arguments any) dap.ResponseMessage {
	d.t.Helper()
	d.seq++
	args, err := json.Marshal(arguments)
	if err != nil {
		d.t.Fatalf("%v", err)
	}
	raw, _ := json.Marshal(map[string]any{"seq": d.seq, "type": "request", "command": command, "arguments": json.RawMessage(args)})
	_ = d.conn.SetDeadline(time.Now().Add(time.Minute))
	if err := dap.WriteBaseMessage(d.conn, raw); err != nil {
		d.t.Fatalf("DAP %s: %v", command, err)
	}
	for {
		msg := d.read(command)
		if resp, ok := msg.(dap.ResponseMessage); ok && resp.GetResponse().RequestSeq == d.seq {
			if r := resp.GetResponse(); !r.Success {
				d.t.Fatalf("DAP %s failed: %s %s", command, r.Message, string(mustJSON(msg)))
			}
			return resp
		}
		d.events = append(d.events, msg)
	}
}

// WaitEvent reads until an event named event arrives (or finds one that
// already did) and returns it.
func (d *DAP) WaitEvent(event string) dap.EventMessage {
	d.t.Helper()
	for i, msg := range d.events {
		if e, ok := msg.(dap.EventMessage); ok && e.GetEvent().Event == event {
			d.events = append(d.events[:i], d.events[i+1:]...)
			return e
		}
	}
	_ = d.conn.SetDeadline(time.Now().Add(time.Minute))
	for {
		msg := d.read(event)
		if e, ok := msg.(dap.EventMessage); ok && e.GetEvent().Event == event {
			return e
		}
		d.events = append(d.events, msg)
	}
}

func (d *DAP) read(waitingFor string) dap.Message {
	d.t.Helper()
	msg, err := dap.ReadProtocolMessage(d.reader)
	if err != nil {
		d.t.Fatalf("DAP, waiting for %s: %v", waitingFor, err)
	}
	if e, ok := msg.(dap.EventMessage); ok {
		d.counts[e.GetEvent().Event]++
	}
	return msg
}

// Count is how many events named event the session has received so far.
func (d *DAP) Count(event string) int { return d.counts[event] }

// WaitOutput waits for an output event (a line in the debug console) that
// contains text, and returns its output.
func (d *DAP) WaitOutput(text string) string {
	d.t.Helper()
	for {
		e := d.WaitEvent("output").(*dap.OutputEvent)
		if strings.Contains(e.Body.Output, text) {
			return e.Body.Output
		}
	}
}

// Attach attaches the session as VS Code does with the attach request's
// arguments, sets one breakpoint at file:line (the host's path), checks delve
// verified it, and ends the configuration.
func (d *DAP) Attach(arguments map[string]any, file string, line int) {
	d.t.Helper()
	d.Request("attach", arguments)
	resp := d.Request("setBreakpoints", map[string]any{"source": map[string]any{"path": file}, "breakpoints": []map[string]any{{"line": line}}})
	if bps := resp.(*dap.SetBreakpointsResponse).Body.Breakpoints; len(bps) != 1 || !bps[0].Verified {
		d.t.Fatalf("breakpoint at %s:%d not verified: %+v", file, line, bps)
	}
	d.Request("configurationDone", nil)
}

// ReportTo makes t the test the session fails when something goes wrong,
// for a session that lives across the steps of a walk-through.
func (d *DAP) ReportTo(t TB) { d.t = t }

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
