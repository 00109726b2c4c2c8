package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/google/go-dap"
)

// How long the relay waits for delve on behalf of a session: for the
// editor's requests under way when the session moves, and for each request
// of a replay; and how long a session's end may take, all told.
const (
	answerTimeout  = 10 * time.Second
	inFlightWait   = time.Second
	endTimeout     = time.Second
	editorDeadline = 10 * time.Second // for a write to the editor
)

// session is one editor's DAP session through the relay: it passes the
// editor's requests to the delve of the build it is on, moves to each new
// build's delve (replaying itself there), and clears what it set when it
// ends, however it ends. What it remembers, and the rules of which build a
// request belongs to, are its replayState's.
//
// Locks: moveMu (a request is decided and sent, the session moves, or it
// ends: one at a time) comes first, and is held across writes to delve and
// to the editor, each of which has a deadline. mu (the state) and writeMu
// (one message to the editor at a time) are taken under it or alone, never
// one inside the other, and mu never across a write. upstream.mu is a
// leaf; the relay's mu is never held while a session is called.
type session struct {
	log    *slog.Logger
	editor net.Conn
	reader *bufio.Reader
	// editorOpen ends when the editor's connection does (editorGone): a
	// move under way gives up then, so that the end, which waits for it,
	// comes within a second.
	editorOpen context.Context
	editorGone context.CancelFunc

	moveMu sync.Mutex
	build  build // the build the session is on (under moveMu)
	ended  bool  // (under moveMu)

	mu       sync.Mutex
	state    *replayState
	up       *upstream // the delve requests go to; nil before the first
	moving   *upstream // the delve the session is being replayed into
	queue    []message // for the editor, in order, while flushing
	flushing bool

	writeMu sync.Mutex
	seq     int
}

func newSession(conn net.Conn, reader *bufio.Reader, logger *slog.Logger) *session {
	open, gone := context.WithCancel(context.Background())
	return &session{log: logger, editor: conn, reader: reader, editorOpen: open, editorGone: gone, state: newReplayState()}
}

// run reads the editor's requests until the session ends: by a disconnect,
// or by the connection closing or failing. Either way, it ends clean.
func (s *session) run() {
	defer s.editorGone()
	for {
		raw, err := dap.ReadBaseMessage(s.reader)
		if err != nil {
			s.editorGone()
			s.end(nil)
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

// request passes the editor's request m where its state says, under moveMu
// so that it goes to the build it was decided for.
func (s *session) request(m message) (done bool) {
	s.moveMu.Lock()
	s.mu.Lock()
	where, answer := s.state.request(m, s.build.sources.changed)
	up := s.up
	s.mu.Unlock()
	switch where {
	case ending:
		s.moveMu.Unlock()
		s.end(m)
		return true
	case heldForNextBuild:
		if up != nil {
			ctx, cancel := context.WithTimeout(context.Background(), answerTimeout)
			if _, err := up.call(ctx, "setBreakpoints", noBreakpoints(sourcePath(m["arguments"]))); err != nil {
				s.log.Info("clearing the breakpoints of a changed file in the build serving", "error", err)
			}
			cancel()
		}
		s.toEditor(answer)
	case toDelve:
		if up == nil {
			s.fail(m, fmt.Errorf("no build's debugger to send this to yet; try again after the next save"))
		} else if err := up.send(m); err != nil {
			s.fail(m, err)
		}
	}
	s.moveMu.Unlock()
	return false
}

// moveTo replays the session into the delve of b and makes it the one
// requests go to, whatever the session's state: an editor that has said
// nothing yet is simply connected there. It returns once the replay is
// done, so that b may take requests. A move to a build older than the one
// the session is on is one that another move overtook: nothing to do.
func (s *session) moveTo(b build) {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	if s.ended || b.n <= s.build.n {
		return
	}
	s.mu.Lock()
	old := s.up
	s.mu.Unlock()
	if old != nil {
		// The editor's requests under way get their answers from the old
		// delve, which still runs, and are replayed with the rest.
		ctx, cancel := context.WithTimeout(s.editorOpen, inFlightWait)
		old.waitAnswered(ctx)
		cancel()
	}
	if s.editorOpen.Err() != nil {
		return // the session ends where it is
	}
	s.mu.Lock()
	replay := s.state.replay()
	s.mu.Unlock()

	up, err := dialDelve(b.delve, s)
	if err != nil {
		s.couldNotFollow(b, "connecting to its delve", err)
		return
	}
	s.mu.Lock()
	s.moving = up // its events wait for the end of the replay
	s.mu.Unlock()
	answers := map[string]message{}
	var functions message
	for i, r := range replay {
		ctx, cancel := context.WithTimeout(s.editorOpen, answerTimeout)
		reply, err := up.call(ctx, r.command, r.args)
		cancel()
		if r.command == "setFunctionBreakpoints" {
			functions = reply
		}
		if r.command == "setBreakpoints" {
			// A file's breakpoints that no longer bind (the file is gone)
			// do not stop the rest: the editor is told of them (moved).
			answers[sourcePath(r.args)] = reply
			continue
		}
		if err != nil {
			s.mu.Lock()
			queued := s.queue
			s.moving, s.queue = nil, nil
			s.mu.Unlock()
			// The new build serves without this session: what the replay set
			// there so far must not halt it with nobody watching.
			if _, err := s.release(up, undoReplay(replay[:i+1], queued), map[string]any{}); err != nil {
				s.log.Info("leaving a build the session could not follow", "build", b.n, "error", err)
			}
			if s.editorOpen.Err() == nil {
				s.couldNotFollow(b, "replaying the session", err)
			}
			return
		}
	}
	s.build = b
	s.mu.Lock()
	s.up, s.moving = up, nil
	told := s.state.moved(b.n, answers, functions)
	// What the replay changed first, then delve's events that came during
	// it, then whatever comes meanwhile: all in order.
	for _, e := range s.queue {
		if e, pass := s.forEditor(e); pass {
			told = append(told, e)
		}
	}
	s.queue = told
	s.flushing = true
	s.mu.Unlock()
	s.flush()
	if old != nil {
		old.close()
	}
}

// couldNotFollow tells the editor, and the container's log, that the
// session stays where it was: requests fail until a build's move succeeds.
func (s *session) couldNotFollow(b build, doing string, err error) {
	s.log.Info("an editor's debug session could not follow the new build; it tries again at the next",
		"build", b.n, "while", doing, "error", err)
	s.console("stderr", fmt.Sprintf("devloop: your debug session could not follow build %d (%s: %v); it tries again at the next save", b.n, doing, err))
}

// end clears what the editor set in the delve the session is on, lets a
// program it halted run on, and detaches, whatever the editor asked (the
// stop button may ask to end the program): nothing halts the server with
// nobody watching. disconnect is the editor's request, answered; nil when
// the editor went away without one.
func (s *session) end(disconnect message) {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	s.ended = true
	s.mu.Lock()
	up := s.up
	// delve's events from now on are the end of its session with the
	// relay (terminated, when it answers disconnect), not news of the app:
	// the editor gets none of them.
	s.up = nil
	cleanup := s.state.cleanup()
	s.mu.Unlock()
	if up == nil {
		if disconnect != nil {
			s.toEditor(response(disconnect, true, "", nil))
		}
		return
	}
	args := map[string]any{}
	if disconnect != nil {
		_ = json.Unmarshal(disconnect["arguments"], &args)
	}
	reply, err := s.release(up, cleanup, args)
	if disconnect == nil {
		return
	}
	if err != nil {
		s.fail(disconnect, err)
		return
	}
	reply["request_seq"] = disconnect["seq"]
	s.toEditor(reply)
}

// release sends up's delve cleanup (what clears the session's breakpoints
// there and resumes a program it halted), then disconnect with args, and
// closes the connection, all within endTimeout. Whatever args say, delve
// is told to leave the app running: a multi-client delve keeps a client's
// breakpoints, and a halted program halted, after the client is gone.
func (s *session) release(up *upstream, cleanup []replayed, args map[string]any) (message, error) {
	defer up.close()
	ctx, cancel := context.WithTimeout(context.Background(), endTimeout)
	defer cancel()
	paused := false
	for _, r := range cleanup {
		_, err := up.call(ctx, r.command, r.args)
		// A pause answered, delve may refuse continue for a moment, while
		// the step it halted winds down ("debuggee is running"): again,
		// until it takes it.
		for paused && r.command == "continue" && err != nil && !errors.Is(err, errReplaced) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			_, err = up.call(ctx, r.command, r.args)
		}
		if err != nil {
			s.log.Info("clearing an editor's breakpoints as its session left a delve", "error", err)
		}
		paused = r.command == "pause"
	}
	args["terminateDebuggee"] = false
	args["suspendDebuggee"] = false
	return up.call(ctx, "disconnect", args)
}

// fromDelve passes a message of up's on to the editor: responses always (a
// request under way when the session moved is answered by the old delve);
// events of the delve the session is on, and of the one it is being
// replayed into after the replay; the old build's never.
func (s *session) fromDelve(up *upstream, m, request message) {
	s.mu.Lock()
	if m.str("type") == "response" {
		s.state.answered(request, m)
		if up != s.up {
			s.mu.Unlock()
			s.toEditor(m)
			return
		}
	} else {
		switch {
		case up == s.moving:
			s.queue = append(s.queue, m) // moveTo passes them on after the replay
			s.mu.Unlock()
			return
		case up != s.up:
			s.mu.Unlock()
			return
		}
		var pass bool
		if m, pass = s.forEditor(m); !pass {
			s.mu.Unlock()
			return
		}
	}
	if s.flushing {
		s.queue = append(s.queue, m)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.toEditor(m)
}

// forEditor is what the editor gets of an event of the delve the session
// is on, noted in the state; nothing (pass false) for one it must not see.
// s.mu is held.
func (s *session) forEditor(e message) (_ message, pass bool) {
	switch e.str("event") {
	case "initialized":
		// A replay's: the editor had it from its first delve, and would
		// configure the session again.
		return nil, s.state.attach == nil
	case "terminated", "exited":
		// The app of the current build exited by itself: the next save
		// starts a new one, and the session goes on.
		return event("output", map[string]any{"category": "console", "output": "devloop: the app exited; the next save starts it again\n"}), true
	}
	s.state.observe(e)
	return e, true
}

// flush delivers the queue in order, and what joins it meanwhile, then lets
// messages go straight to the editor again. flushing is set.
func (s *session) flush() {
	s.mu.Lock()
	for len(s.queue) > 0 {
		next := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, m := range next {
			s.toEditor(m)
		}
		s.mu.Lock()
	}
	s.flushing = false
	s.mu.Unlock()
}

// unanswered answers a request delve will not: its connection closed.
func (s *session) unanswered(request message, err error) { s.fail(request, err) }

// fail answers a request that could not reach a delve, or not be done there.
func (s *session) fail(m message, err error) {
	s.toEditor(response(m, false, "devloop: "+err.Error(), nil))
}

// console writes a line in the editor's debug console.
func (s *session) console(category, text string) {
	s.toEditor(event("output", map[string]any{"category": category, "output": text + "\n"}))
}

func (s *session) toEditor(m message) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.seq++
	m.set("seq", s.seq)
	_ = s.editor.SetWriteDeadline(time.Now().Add(editorDeadline))
	if err := dap.WriteBaseMessage(s.editor, m.bytes()); err != nil {
		// An editor that took nothing for editorDeadline is gone (its
		// network dropped, no close), and a message cut short leaves the
		// stream unreadable anyway. Closing ends the session (run's read
		// fails), which clears what it set, and makes the writes behind
		// this one fail at once instead of each waiting out the deadline
		// while a switch waits for them.
		_ = s.editor.Close()
	}
}
