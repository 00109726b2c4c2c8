package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// editorRequest is a request as the editor sends it.
func editorRequest(seq int, command string, args any) message {
	m := request(command, args)
	m.set("seq", seq)
	return m
}

func commandsOf(replay []replayed) string {
	var out []string
	for _, r := range replay {
		out = append(out, r.command)
	}
	return strings.Join(out, " ")
}

func unchanged(string) bool { return false }

func TestReplayStateReplaysWhereTheEditorIs(t *testing.T) {
	for _, tc := range []struct {
		sent []string
		want string
	}{
		{nil, ""},
		{[]string{"initialize"}, "initialize"},
		{[]string{"initialize", "attach"}, "initialize attach"},
		{[]string{"initialize", "attach", "setBreakpoints", "setExceptionBreakpoints", "configurationDone", "threads"},
			"initialize attach setBreakpoints setExceptionBreakpoints configurationDone"},
	} {
		st := newReplayState()
		for i, command := range tc.sent {
			args := map[string]any{}
			if command == "setBreakpoints" {
				args = map[string]any{"source": map[string]string{"path": "/p/a.go"}, "breakpoints": []map[string]int{{"line": 3}}}
			}
			if where, _ := st.request(editorRequest(i+1, command, args), unchanged); where != toDelve {
				t.Errorf("%s went %v, want to delve", command, where)
			}
		}
		if got := commandsOf(st.replay()); got != tc.want {
			t.Errorf("after %v the replay is %q, want %q", tc.sent, got, tc.want)
		}
	}
}

func setBreakpointsArgs(path string, lines ...int) map[string]any {
	bps := []map[string]int{}
	for _, l := range lines {
		bps = append(bps, map[string]int{"line": l})
	}
	return map[string]any{"source": map[string]string{"path": path}, "breakpoints": bps}
}

// attachedState is a session attached with substitutePath /host → /src and
// a breakpoint at /host/a.go:3 that delve verified as breakpoint 1.
func attachedState(t *testing.T) *replayState {
	st := newReplayState()
	st.request(editorRequest(1, "initialize", map[string]any{}), unchanged)
	st.request(editorRequest(2, "attach", map[string]any{"substitutePath": []map[string]string{{"from": "/host", "to": "/src"}}}), unchanged)
	set := editorRequest(3, "setBreakpoints", setBreakpointsArgs("/host/a.go", 3))
	st.request(set, unchanged)
	st.answered(set, response(set, true, "", map[string]any{"breakpoints": []map[string]any{{"id": 1, "verified": true, "line": 3}}}))
	return st
}

func TestReplayStateHoldsBreakpointsOfAChangedFileForTheNextBuild(t *testing.T) {
	st := attachedState(t)
	var asked string
	changed := func(path string) bool { asked = path; return true }
	where, answer := st.request(editorRequest(4, "setBreakpoints", setBreakpointsArgs("/host/a.go", 5)), changed)
	if asked != "/src/a.go" {
		t.Errorf("the file was looked up as %q; want its path in the container, /src/a.go", asked)
	}
	if where != heldForNextBuild {
		t.Fatalf("a breakpoint of a changed file went %v; want held", where)
	}
	bps := breakpointsOf(answer)
	if len(bps) != 1 || bps[0].Verified || bps[0].Line != 5 || bps[0].ID < firstOwnID {
		t.Errorf("the editor is answered %+v", bps)
	}
	// The build on now runs none of the file's (the session clears them);
	// the next gets line 5.
	if got := commandsOf(st.cleanup()); got != "" {
		t.Errorf("with the file's breakpoints held, ending the session clears %q in the build on", got)
	}
	var lines []string
	for _, r := range st.replay() {
		if r.command == "setBreakpoints" {
			lines = append(lines, string(r.args))
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], `"line":5`) {
		t.Errorf("the next build gets %v, want line 5", lines)
	}
	// The next build binds it: the editor is told, under the id it was given.
	next := response(editorRequest(9, "setBreakpoints", nil), true, "", map[string]any{"breakpoints": []map[string]any{{"id": 1, "verified": true, "line": 5}}})
	told := st.moved(2, map[string]message{"/host/a.go": next}, nil)
	if len(told) != 1 || told[0].str("event") != "breakpoint" {
		t.Fatalf("after the move the editor is told %v", told)
	}
	if got := breakpointsOf(told[0]); !got[0].Verified || got[0].ID != bps[0].ID || got[0].Line != 5 {
		t.Errorf("the breakpoint event says %+v", got)
	}
	// The file's breakpoints are the build's now, and nothing is held.
	if f := st.files["/host/a.go"]; f.next != nil || !strings.Contains(string(f.serving), `"line":5`) {
		t.Errorf("after the move the file has serving %s, next %s", f.serving, f.next)
	}
}

func TestReplayStateAppliesBreakpointsOfAnUnchangedFileAtOnce(t *testing.T) {
	st := attachedState(t)
	if where, _ := st.request(editorRequest(4, "setBreakpoints", setBreakpointsArgs("/host/a.go", 5)), unchanged); where != toDelve {
		t.Errorf("went %v, want to delve", where)
	}
}

func TestReplayStateTellsOfBreakpointsThatNoLongerBind(t *testing.T) {
	st := attachedState(t)
	failed := response(editorRequest(9, "setBreakpoints", nil), true, "", map[string]any{"breakpoints": []map[string]any{{"id": 4, "verified": false, "message": "no code"}}})
	told := st.moved(2, map[string]message{"/host/a.go": failed}, nil)
	var events []string
	for _, m := range told {
		events = append(events, m.str("event"))
	}
	if !slices.Equal(events, []string{"breakpoint", "output"}) {
		t.Fatalf("the editor is told %v", told)
	}
	if got := breakpointsOf(told[0]); got[0].Verified || got[0].ID != 1 {
		t.Errorf("the breakpoint event says %+v; want breakpoint 1, the editor's, not verified", got)
	}
	// No answer at all (the request failed) is told the same way.
	st = attachedState(t)
	if told := st.moved(2, map[string]message{}, nil); len(told) != 2 {
		t.Errorf("with no answer the editor is told %v", told)
	}
}

func TestReplayStateCleanupClearsWhatTheEditorSetAndResumes(t *testing.T) {
	st := attachedState(t)
	st.request(editorRequest(4, "setFunctionBreakpoints", map[string]any{"breakpoints": []map[string]string{{"name": "main.f"}}}), unchanged)
	st.observe(event("stopped", map[string]any{"threadId": 7}))
	var got []string
	for _, r := range st.cleanup() {
		got = append(got, r.command+string(r.args))
	}
	want := []string{`setBreakpoints{"breakpoints":[],"source":{"path":"/host/a.go"}}`, `setFunctionBreakpoints{"breakpoints":[]}`, `continue{"threadId":7}`}
	if !slices.Equal(got, want) {
		t.Errorf("cleanup is %v, want %v", got, want)
	}
	st.request(editorRequest(5, "continue", map[string]any{"threadId": 7}), unchanged)
	if got := commandsOf(st.cleanup()); strings.Contains(got, "continue") {
		t.Errorf("cleanup of a running program is %s", got)
	}
}

func TestReplayStateCleanupEndsAStepUnderWay(t *testing.T) {
	st := attachedState(t)
	st.observe(event("stopped", map[string]any{"threadId": 7}))
	// The editor steps, and goes before delve says the step ended: the
	// program halts when it does, with nobody there.
	st.request(editorRequest(4, "next", map[string]any{"threadId": 7}), unchanged)
	if got := commandsOf(st.cleanup()); !strings.HasSuffix(got, "pause continue") {
		t.Errorf("cleanup during a step is %q; want it to end with the step halted and resumed: pause continue", got)
	}
	st.observe(event("stopped", map[string]any{"reason": "step", "threadId": 7}))
	if got := commandsOf(st.cleanup()); !strings.HasSuffix(got, "setBreakpoints continue") {
		t.Errorf("cleanup once the step ended is %q; want continue alone", got)
	}
}

func TestReplayStateMapsPathsAsDelveDoes(t *testing.T) {
	st := newReplayState()
	st.attach = json.RawMessage(`{"substitutePath":[{"from":"/home/me/proj","to":"/src"}]}`)
	for path, want := range map[string]string{
		"/home/me/proj/app/a.go":  "/src/app/a.go",
		"/home/me/project/app.go": "/home/me/project/app.go", // a prefix, not the directory
		"/elsewhere/b.go":         "/elsewhere/b.go",
	} {
		if got := st.inContainer(path); got != want {
			t.Errorf("%s maps to %s, want %s", path, got, want)
		}
	}
}

// hitIDs is the hitBreakpointIds of a stopped event.
func hitIDs(e message) []int {
	var body struct{ HitBreakpointIds []int }
	_ = json.Unmarshal(e["body"], &body)
	return body.HitBreakpointIds
}

func TestReplayStateGivesTheEditorOnlyIDsItWasTold(t *testing.T) {
	st := attachedState(t) // a.go:3 is the first delve's breakpoint 1
	setB := editorRequest(4, "setBreakpoints", setBreakpointsArgs("/host/b.go", 7))
	st.request(setB, unchanged)
	st.answered(setB, response(setB, true, "", map[string]any{"breakpoints": []map[string]any{{"id": 2, "verified": true, "line": 7}}}))
	setF := editorRequest(5, "setFunctionBreakpoints", map[string]any{"breakpoints": []map[string]string{{"name": "main.f"}}})
	st.request(setF, unchanged)
	st.answered(setF, response(setF, true, "", map[string]any{"breakpoints": []map[string]any{{"id": 3, "verified": true}}}))
	// A save moves a.go's breakpoint: held for the next build, under an id
	// of the relay's.
	_, answer := st.request(editorRequest(6, "setBreakpoints", setBreakpointsArgs("/host/a.go", 5)), func(string) bool { return true })
	held := breakpointsOf(answer)[0].ID

	// The next build's delve numbers the replayed breakpoints its own way.
	bound := func(id, line int) message {
		return response(editorRequest(9, "setBreakpoints", nil), true, "", map[string]any{"breakpoints": []map[string]any{{"id": id, "verified": true, "line": line}}})
	}
	functions := response(editorRequest(9, "setFunctionBreakpoints", nil), true, "", map[string]any{"breakpoints": []map[string]any{{"id": 12, "verified": true}}})
	st.moved(2, map[string]message{"/host/a.go": bound(10, 5), "/host/b.go": bound(11, 7)}, functions)

	for delveID, want := range map[int][]int{10: {held}, 11: {2}, 12: {3}, 99: {}} {
		stopped := event("stopped", map[string]any{"reason": "breakpoint", "threadId": 1, "hitBreakpointIds": []int{delveID}})
		st.observe(stopped)
		if got := hitIDs(stopped); !slices.Equal(got, want) {
			t.Errorf("delve's breakpoint %d hit: the editor is told %v, want %v", delveID, got, want)
		}
	}
	changed := event("breakpoint", map[string]any{"reason": "changed", "breakpoint": map[string]any{"id": 11, "verified": true, "line": 8}})
	st.observe(changed)
	if got := breakpointsOf(changed); got[0].ID != 2 || got[0].Line != 8 {
		t.Errorf("delve's breakpoint event for its 11 says %+v; want the editor's 2", got)
	}

	// A breakpoint set in this delve that it numbers 3, which the editor
	// knows as main.f's: the editor gets another id.
	setC := editorRequest(10, "setBreakpoints", setBreakpointsArgs("/host/c.go", 4))
	st.request(setC, unchanged)
	answerC := bound(3, 4)
	st.answered(setC, answerC)
	if id := breakpointsOf(answerC)[0].ID; id == 3 || id == 2 || id == held {
		t.Errorf("a new breakpoint is told as %d, an id the editor knows as another's", id)
	}
	stopped := event("stopped", map[string]any{"reason": "breakpoint", "threadId": 1, "hitBreakpointIds": []int{3}})
	st.observe(stopped)
	if got := hitIDs(stopped); !slices.Equal(got, []int{breakpointsOf(answerC)[0].ID}) {
		t.Errorf("the new breakpoint hit is told as %v; want the id its answer gave", got)
	}
}
