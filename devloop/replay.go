package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// replayState is one editor's session as the relay keeps it: what the
// editor asked of the debugger, to ask it again of each new build's delve,
// and which build each breakpoint belongs to. It does no I/O and takes no
// lock: the session (session.go) feeds it the editor's requests and delve's
// messages under its own lock, and does what it answers.
type replayState struct {
	initialize json.RawMessage // the arguments of each, as the editor sent them; nil: not yet
	attach     json.RawMessage
	functions  json.RawMessage             // setFunctionBreakpoints
	exceptions json.RawMessage             // setExceptionBreakpoints
	configured bool                        // configurationDone was sent
	files      map[string]*fileBreakpoints // by the path the editor names the file by
	stopped    int                         // the thread the editor shows stopped, or 0
	stepping   int                         // the thread the editor asked to step or pause, until delve says it stopped
	lastOwnID  int                         // the last id the relay gave a breakpoint itself
	// The editor knows each breakpoint by the id it was first told, and each
	// new delve numbers the replayed ones its own way: every id delve sends
	// the editor goes through ids first.
	ids         map[int]int // delve's id → the editor's, in the delve the session is on
	functionIDs []int       // the editor's ids of its function breakpoints, in the order it asked
}

// fileBreakpoints are one file's breakpoints: the last setBreakpoints for
// it that a build runs, and one held for the next build.
type fileBreakpoints struct {
	serving json.RawMessage   // the arguments the build the session is on has; nil: none
	next    json.RawMessage   // the arguments the next build gets instead; nil: none held
	shown   []shownBreakpoint // what the editor was last told of each, in the order it asked
}

// shownBreakpoint is a DAP Breakpoint as the editor knows it.
type shownBreakpoint struct {
	ID       int             `json:"id,omitempty"`
	Verified bool            `json:"verified"`
	Line     int             `json:"line,omitempty"`
	Message  string          `json:"message,omitempty"`
	Source   json.RawMessage `json:"source,omitempty"`
}

// Ids the relay gives breakpoints itself (those it answers for, and those
// whose delve id the editor already knows as another's), far above delve's,
// which count from 1 in each delve.
const firstOwnID = 1 << 20

const heldMessage = "devloop: this file changed since the serving build compiled it; the breakpoint applies from the build of your save on"

// route is what the session does with a request of the editor's.
type route int

const (
	toDelve          route = iota // send it to the delve the session is on
	heldForNextBuild              // answered by the relay: it applies from the next build on
	ending                        // disconnect: the session ends (session.end)
)

func newReplayState() *replayState {
	return &replayState{files: map[string]*fileBreakpoints{}, ids: map[int]int{}}
}

// request records what a replay needs of the editor's request m, and says
// where it goes. changed says whether a file (its path in the container)
// differs from what the build the session is on compiled: breakpoints set
// against a newer version of a file are held for the next build, whose
// lines they are, and answered here; until then the build on now runs none
// of that file's, so that no request stops at a line the editor does not
// show, and the editor shows them not verified.
func (st *replayState) request(m message, changed func(path string) bool) (route, message) {
	args := m["arguments"]
	switch m.str("command") {
	case "initialize":
		st.initialize = args
	case "attach":
		st.attach = args
	case "setBreakpoints":
		path := sourcePath(args)
		f := st.file(path)
		if changed(st.inContainer(path)) {
			// The build on now runs none of the file's breakpoints (the
			// session clears them there): the editor shows them not verified.
			f.serving, f.next = nil, args
			f.shown = st.held(args)
			return heldForNextBuild, response(m, true, "", map[string]any{"breakpoints": f.shown})
		}
		f.serving, f.next = args, nil
	case "setFunctionBreakpoints":
		st.functions = args
	case "setExceptionBreakpoints":
		st.exceptions = args
	case "configurationDone":
		st.configured = true
	case "continue", "reverseContinue":
		st.stopped, st.stepping = 0, 0
	case "next", "stepIn", "stepOut", "stepBack", "pause":
		// The program halts again once delve is done, whoever is there.
		var a struct{ ThreadID int }
		_ = json.Unmarshal(args, &a)
		st.stopped, st.stepping = 0, max(a.ThreadID, 1)
	case "disconnect":
		return ending, nil
	}
	return toDelve, nil
}

// answered records delve's answer to a request of the editor's that went to
// it: where its breakpoints are, as the editor now shows them, under the ids
// it knows them by (it rewrites the answer's).
func (st *replayState) answered(request, response message) {
	if !response.succeeded() {
		return
	}
	switch request.str("command") {
	case "setBreakpoints":
		st.file(sourcePath(request["arguments"])).shown = st.renumber(response)
	case "setFunctionBreakpoints":
		st.functionIDs = nil
		for _, bp := range st.renumber(response) {
			st.functionIDs = append(st.functionIDs, bp.ID)
		}
	}
}

// renumber gives the breakpoints of delve's answer the editor's ids, and
// returns them as the editor is told them.
func (st *replayState) renumber(response message) []shownBreakpoint {
	var body map[string]json.RawMessage
	var bps []message
	_ = json.Unmarshal(response["body"], &body)
	_ = json.Unmarshal(body["breakpoints"], &bps)
	for _, bp := range bps {
		if id := bp.int("id"); id != 0 {
			bp.set("id", st.editorID(id))
		}
	}
	if body == nil {
		return nil
	}
	body["breakpoints"], _ = json.Marshal(bps)
	response.set("body", body)
	var shown []shownBreakpoint
	_ = json.Unmarshal(body["breakpoints"], &shown)
	return shown
}

// editorID is the id the editor knows delve's breakpoint by: delve's own
// for one the editor has not seen, unless the editor knows that number as
// another breakpoint (delve's, of an earlier build).
func (st *replayState) editorID(delveID int) int {
	if id, ok := st.ids[delveID]; ok {
		return id
	}
	id := delveID
	if st.editorKnows(id) {
		st.lastOwnID = max(st.lastOwnID+1, firstOwnID)
		id = st.lastOwnID
	}
	st.ids[delveID] = id
	return id
}

func (st *replayState) editorKnows(id int) bool {
	for _, f := range st.files {
		if slices.ContainsFunc(f.shown, func(bp shownBreakpoint) bool { return bp.ID == id }) {
			return true
		}
	}
	return slices.Contains(st.functionIDs, id) || slices.Contains(slices.Collect(maps.Values(st.ids)), id)
}

// observe records an event of the delve the session is on, and gives the
// breakpoints it names the editor's ids (it rewrites the event's): a
// breakpoint the editor was never told of is not said to be hit.
func (st *replayState) observe(e message) {
	switch e.str("event") {
	case "stopped":
		var stop struct {
			ThreadID         int
			HitBreakpointIds []int
		}
		_ = json.Unmarshal(e["body"], &stop)
		st.stopped, st.stepping = max(stop.ThreadID, 1), 0
		if stop.HitBreakpointIds == nil {
			return
		}
		hit := []int{}
		for _, delveID := range stop.HitBreakpointIds {
			if id, ok := st.ids[delveID]; ok {
				hit = append(hit, id)
			}
		}
		var body map[string]json.RawMessage
		_ = json.Unmarshal(e["body"], &body)
		body["hitBreakpointIds"], _ = json.Marshal(hit)
		e.set("body", body)
	case "continued":
		st.stopped = 0
	case "breakpoint":
		var body map[string]json.RawMessage
		var bp message
		_ = json.Unmarshal(e["body"], &body)
		if json.Unmarshal(body["breakpoint"], &bp) != nil || bp.int("id") == 0 {
			return
		}
		bp.set("id", st.editorID(bp.int("id")))
		body["breakpoint"] = bp.bytes()
		e.set("body", body)
	}
}

// replayed is a request of the session, sent again to a new delve.
type replayed struct {
	command string
	args    json.RawMessage
}

// replay is what a new delve is sent, in order, to be where the editor is:
// nothing for an editor that has said nothing yet, initialize for one that
// has not attached, the whole configuration for one that has. Each file
// gets the breakpoints held for the next build, or else those it has.
func (st *replayState) replay() []replayed {
	if st.initialize == nil {
		return nil
	}
	out := []replayed{{"initialize", st.initialize}}
	if st.attach == nil {
		return out
	}
	out = append(out, replayed{"attach", st.attach})
	for _, path := range slices.Sorted(maps.Keys(st.files)) {
		if args := st.files[path].forNextBuild(); args != nil {
			out = append(out, replayed{"setBreakpoints", args})
		}
	}
	if st.functions != nil {
		out = append(out, replayed{"setFunctionBreakpoints", st.functions})
	}
	if st.exceptions != nil {
		out = append(out, replayed{"setExceptionBreakpoints", st.exceptions})
	}
	if st.configured {
		out = append(out, replayed{"configurationDone", nil})
	}
	return out
}

func (f *fileBreakpoints) forNextBuild() json.RawMessage {
	if f.next != nil {
		return f.next
	}
	return f.serving
}

// moved records that the session now runs in build n, whose delve answered
// the replayed setBreakpoints with answers (by the editor's path; nil: no
// answer) and the replayed setFunctionBreakpoints with functions: each
// breakpoint keeps the id the editor knows it by, whatever delve's now. It
// returns what the editor must be told, in order: that the
// thread it shows stopped (in the old build) runs; each breakpoint whose
// state changed (held ones now bound, or ones that no longer bind); and a
// line in its console for each that does not bind.
func (st *replayState) moved(n int, answers map[string]message, functions message) []message {
	var tell []message
	st.ids = map[int]int{}
	st.learnIDs(st.functionIDs, functions)
	if st.stopped != 0 {
		// The stopped frame was the old build's; it is gone.
		tell = append(tell, event("continued", map[string]any{"threadId": st.stopped, "allThreadsContinued": true}))
	}
	st.stopped, st.stepping = 0, 0 // the old build's step ends with it
	if st.attach == nil {
		return tell
	}
	for _, path := range slices.Sorted(maps.Keys(st.files)) {
		f := st.files[path]
		if f.next == nil && f.serving == nil {
			continue
		}
		f.serving, f.next = f.forNextBuild(), nil
		var known []int
		for _, bp := range f.shown {
			known = append(known, bp.ID)
		}
		now := st.learnIDs(known, answers[path])
		for i := range f.shown {
			was := &f.shown[i]
			bound := shownBreakpoint{Message: fmt.Sprintf("devloop: not bound in build %d", n)}
			if i < len(now) {
				bound = now[i]
			}
			if bound.Verified == was.Verified && (bound.Line == was.Line || bound.Line == 0) && bound.Message == was.Message {
				continue
			}
			was.Verified, was.Message = bound.Verified, bound.Message
			if bound.Line != 0 {
				was.Line = bound.Line
			}
			if was.ID != 0 {
				tell = append(tell, event("breakpoint", map[string]any{"reason": "changed", "breakpoint": was}))
			}
			if !bound.Verified {
				tell = append(tell, event("output", map[string]any{"category": "stderr",
					"output": fmt.Sprintf("devloop: the breakpoint at %s:%d does not bind in build %d: %s\n", filepath.Base(path), was.Line, n, bound.Message)}))
			}
		}
	}
	return tell
}

// learnIDs records that delve's answer to a replayed request (nil: none)
// names, in the order asked, the breakpoints the editor knows by known, and
// returns the answer's breakpoints.
func (st *replayState) learnIDs(known []int, answer message) []shownBreakpoint {
	if answer == nil || !answer.succeeded() {
		return nil
	}
	var body struct{ Breakpoints []shownBreakpoint }
	_ = json.Unmarshal(answer["body"], &body)
	for i, bp := range body.Breakpoints {
		if i < len(known) && known[i] != 0 && bp.ID != 0 {
			st.ids[bp.ID] = known[i]
		}
	}
	return body.Breakpoints
}

// cleanup is what clears, in the delve the session is on, what the editor
// set there, and lets a program it halted run on: when the session ends,
// nothing may halt the server with nobody watching.
func (st *replayState) cleanup() []replayed {
	var out []replayed
	for _, path := range slices.Sorted(maps.Keys(st.files)) {
		if st.files[path].serving != nil {
			out = append(out, replayed{"setBreakpoints", noBreakpoints(path)})
		}
	}
	if st.functions != nil {
		out = append(out, replayed{"setFunctionBreakpoints", json.RawMessage(`{"breakpoints":[]}`)})
	}
	switch {
	case st.stepping != 0:
		// A step or pause under way halts the program when it ends, which
		// may be after the session has gone: halting it now ends the step
		// (delve answers a pause of a halted program too), then it runs.
		args, _ := json.Marshal(map[string]any{"threadId": st.stepping})
		out = append(out, replayed{"pause", args}, replayed{"continue", args})
	case st.stopped != 0:
		args, _ := json.Marshal(map[string]any{"threadId": st.stopped})
		out = append(out, replayed{"continue", args})
	}
	return out
}

// undoReplay is what clears, in a delve a replay failed in, what the part
// of it that was sent (done) set there, and resumes a program that stopped
// meanwhile (events: that delve's, which the editor never got): the
// cleanup of a session that had only that.
func undoReplay(done []replayed, events []message) []replayed {
	left := newReplayState()
	for _, r := range done {
		switch r.command {
		case "setBreakpoints":
			left.file(sourcePath(r.args)).serving = r.args
		case "setFunctionBreakpoints":
			left.functions = r.args
		}
	}
	for _, e := range events {
		left.observe(e)
	}
	return left.cleanup()
}

func (st *replayState) file(path string) *fileBreakpoints {
	f, ok := st.files[path]
	if !ok {
		f = &fileBreakpoints{}
		st.files[path] = f
	}
	return f
}

// held is the relay's answer for breakpoints held for the next build: not
// verified yet, at the lines asked, with ids of the relay's own that a
// breakpoint event updates once the next build binds them.
func (st *replayState) held(args json.RawMessage) []shownBreakpoint {
	var a struct {
		Source      json.RawMessage
		Breakpoints []struct{ Line int }
	}
	_ = json.Unmarshal(args, &a)
	shown := []shownBreakpoint{}
	for _, bp := range a.Breakpoints {
		st.lastOwnID = max(st.lastOwnID+1, firstOwnID)
		shown = append(shown, shownBreakpoint{ID: st.lastOwnID, Line: bp.Line, Message: heldMessage, Source: a.Source})
	}
	return shown
}

// inContainer is where delve finds the file the editor names by path: the
// attach request's substitutePath maps the editor's paths ("from") to the
// container's ("to"), as delve does.
func (st *replayState) inContainer(path string) string {
	var a struct{ SubstitutePath []struct{ From, To string } }
	_ = json.Unmarshal(st.attach, &a)
	for _, rule := range a.SubstitutePath {
		if rule.From == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(path, rule.From); ok && (rest == "" || rest[0] == '/' || strings.HasSuffix(rule.From, "/")) {
			return rule.To + rest
		}
	}
	return path
}

func sourcePath(args json.RawMessage) string {
	var a struct{ Source struct{ Path string } }
	_ = json.Unmarshal(args, &a)
	return a.Source.Path
}

// noBreakpoints is setBreakpoints' arguments that clear the file's.
func noBreakpoints(path string) json.RawMessage {
	args, _ := json.Marshal(map[string]any{"source": map[string]string{"path": path}, "breakpoints": []any{}})
	return args
}
