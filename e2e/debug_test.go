package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-dap"

	"e2e/harness"
	"e2e/load"
)

// launchConfig is the part of .vscode/launch.json an editor acts on.
type launchConfig struct {
	Name           string `json:"name"`
	Type           string `json:"type"`
	Request        string `json:"request"`
	Mode           string `json:"mode"`
	Host           string `json:"host"`
	Port           int    `json:"port"`
	SubstitutePath []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"substitutePath"`
}

// vscodeAttach reads the committed attach configuration, with
// ${workspaceFolder} resolved to repo as VS Code resolves it.
func vscodeAttach(t *testing.T, repo string) launchConfig {
	t.Helper()
	var launch struct{ Configurations []launchConfig }
	if err := json.Unmarshal([]byte(harness.ReadFile(t, filepath.Join(harness.RepoRoot(), ".vscode", "launch.json"))), &launch); err != nil {
		t.Fatalf(".vscode/launch.json: %v", err)
	}
	i := slices.IndexFunc(launch.Configurations, func(c launchConfig) bool { return c.Request == "attach" })
	if i < 0 {
		t.Fatal(".vscode/launch.json has no attach configuration")
	}
	c := launch.Configurations[i]
	if c.Type != "go" || c.Mode != "remote" || c.Host != "127.0.0.1" || c.Port != 2345 || len(c.SubstitutePath) == 0 {
		t.Fatalf("attach configuration %+v: want type go, mode remote, 127.0.0.1:2345 (the debug service's default DEBUG_PORT), a substitutePath", c)
	}
	for i := range c.SubstitutePath {
		c.SubstitutePath[i].From = strings.ReplaceAll(c.SubstitutePath[i].From, "${workspaceFolder}", repo)
	}
	return c
}

// debugFile is the test's own code, written into its scratch copy under a
// name no project of a user's has: the breakpoints are set there, so that
// the test depends on no handler of the sample's, only on the route list the
// docs send users to (addDebugCode).
const debugFile = "zz_e2e_debug.go"

const debugSource = `package main

// Written by the end-to-end debug test (e2e/debug_test.go) into its scratch
// copy of the project, never into the repository: code of its own to set
// breakpoints in, whatever the app's own handlers are.

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

var zzE2EDebugText = "v0"

func zzE2EDebugRoutes(e *echo.Echo) {
	e.GET("/zz-e2e-debug/first", zzE2EDebugFirst)
	e.GET("/zz-e2e-debug/second", zzE2EDebugSecond)
}

func zzE2EDebugFirst(c echo.Context) error {
	return c.String(http.StatusOK, "first "+zzE2EDebugText) // breakpoint: first
}

func zzE2EDebugSecond(c echo.Context) error {
	return c.String(http.StatusOK, "second "+zzE2EDebugText) // breakpoint: second
}
`

// addRoutesLine is the start of the project's route list, and the name of
// its *echo.Echo.
var addRoutesLine = regexp.MustCompile(`func addRoutes\((\w+) \*echo\.Echo[^)]*\) \{\n`)

// addDebugCode writes the test's code into the copy at repo, and one line
// into addRoutes (app/routes.go, where the docs have users add routes) that
// registers its routes; it returns the file's path.
func addDebugCode(t *testing.T, repo string) string {
	t.Helper()
	routes := filepath.Join(repo, "app", "routes.go")
	m := addRoutesLine.FindStringSubmatch(harness.ReadFile(t, routes))
	if m == nil {
		t.Fatalf("app/routes.go has no func addRoutes(e *echo.Echo, ...), where the debug test registers its routes")
	}
	harness.ReplaceIn(t, routes, m[0], m[0]+"\tzzE2EDebugRoutes("+m[1]+")\n")
	file := filepath.Join(repo, "app", debugFile)
	harness.WriteFile(t, file, debugSource)
	return file
}

// hitBreakpoint sends GET url and checks that it stops at file:line, that
// the top frame names the host's file, and that c, the handler's
// echo.Context, can be read; then it continues and returns the response's
// body.
func hitBreakpoint(t *testing.T, d *harness.DAP, url, file string, line int) string {
	t.Helper()
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		_, body, err := harness.Get(url)
		got <- result{body, err}
	}()
	stopped := d.WaitEvent("stopped").(*dap.StoppedEvent)
	trace := d.Request("stackTrace", map[string]any{"threadId": stopped.Body.ThreadId, "levels": 1}).(*dap.StackTraceResponse)
	if len(trace.Body.StackFrames) == 0 {
		t.Fatal("no stack frame where the request stopped")
	}
	top := trace.Body.StackFrames[0]
	if top.Source == nil || top.Source.Path != file || top.Line != line {
		t.Errorf("stopped at %+v line %d, want %s:%d", top.Source, top.Line, file, line)
	}
	scopes := d.Request("scopes", map[string]any{"frameId": top.Id}).(*dap.ScopesResponse)
	var names []string
	for _, scope := range scopes.Body.Scopes {
		vars := d.Request("variables", map[string]any{"variablesReference": scope.VariablesReference}).(*dap.VariablesResponse)
		for _, v := range vars.Body.Variables {
			names = append(names, v.Name+"="+v.Type)
		}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "c=") }) {
		t.Errorf("variables in scope %v, want the handler's c", names)
	}
	d.Request("continue", map[string]any{"threadId": stopped.Body.ThreadId})
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("GET %s after continue: %v", url, r.err)
		}
		return r.body
	case <-time.After(time.Minute):
		t.Fatalf("GET %s did not complete after continue", url)
		return ""
	}
}

// getUnhalted sends GET url and returns its body, failing when the request
// stopped at a breakpoint: it would not be answered (harness.Get gives up),
// and d would have heard a stopped event before the answer to a request
// sent after.
func getUnhalted(t *testing.T, d *harness.DAP, url string) string {
	t.Helper()
	stops := d.Count("stopped")
	_, body, err := harness.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v (halted at a breakpoint?)", url, err)
	}
	d.Request("threads", nil)
	if d.Count("stopped") != stops {
		t.Errorf("GET %s stopped at a breakpoint", url)
	}
	return body
}

// moveFirstDown saves an edit to file that gives the first handler the text
// and puts n comment lines above it, so that its lines move down n, and
// returns the line of its breakpoint now.
func moveFirstDown(t *testing.T, file string, n int, old, text string) int {
	t.Helper()
	harness.ReplaceIn(t, file, strconv.Quote(old), strconv.Quote(text))
	harness.ReplaceIn(t, file, "func zzE2EDebugFirst(", strings.Repeat("// moved down a line\n", n)+"func zzE2EDebugFirst(")
	return harness.LineOf(t, file, "breakpoint: first")
}

// breakpointsMovedBySave sends what VS Code sends after a save whose edit
// moved the breakpoints of file: the lines where the editor now shows them.
func breakpointsMovedBySave(d *harness.DAP, file string, line int) []dap.Breakpoint {
	resp := d.Request("setBreakpoints", map[string]any{"source": map[string]any{"path": file},
		"breakpoints": []map[string]any{{"line": line}}, "sourceModified": true})
	return resp.(*dap.SetBreakpointsResponse).Body.Breakpoints
}

// TestDebugLoop: `docker compose --profile debug up` runs the dev loop under
// delve, and ONE DAP session, configured by the committed launch.json as VS
// Code does, stays attached through saves that move the breakpoint (one into
// another handler), a save while halted, a compile error, a burst of saves:
// its breakpoints stop requests in each new build, never in the old one at a
// line the editor does not show, and it never hears terminated or exited.
// Then a client that connects just before a save and speaks after it, and an
// editor that vanishes while a request is halted.
func TestDebugLoop(t *testing.T) {
	t.Parallel()
	p := newDevProject(t, "debug")
	cfg := vscodeAttach(t, p.Dir)
	file := addDebugCode(t, p.Dir)
	var base, first, second string // URLs: the app's, and the test's two routes
	var d *harness.DAP
	line := harness.LineOf(t, file, "breakpoint: first")
	text := "v0"
	appDir := filepath.Join(p.Dir, "app")
	before := harness.TreeState(t, appDir)
	session := func(step *testing.T) *harness.DAP { d.ReportTo(step); return d }
	top := t // the sessions outlive the step that opens them
	attach := map[string]any{"request": "attach", "mode": cfg.Mode, "substitutePath": cfg.SubstitutePath}
	var late *harness.DAP

	harness.RunSteps(t, []harness.Step{
		{Name: "up serves under delve", Run: func(t *testing.T) {
			p.Build()
			p.Compose("up", "-d")
			base = p.URL("debug")
			first, second = base+"/zz-e2e-debug/first", base+"/zz-e2e-debug/second"
			harness.WaitBody(t, 2*time.Minute, first, "first "+text)
		}},

		{Name: "one attach: a breakpoint stops a request", Run: func(t *testing.T) {
			// At the port Docker published, standing in for cfg.Port.
			d = harness.DialDAP(top, p.Addr("debug", 2345))
			d.ReportTo(t)
			d.Attach(attach, file, line)
			if body := hitBreakpoint(t, d, first, file, line); body != "first "+text {
				t.Errorf("body after continue %q", body)
			}
		}},

		{Name: "a save moves the breakpoint's line into another handler: the old build stops in neither, the new one where the editor shows it", Run: func(t *testing.T) {
			d := session(t)
			// Lines above the first handler put its breakpoint's line where the
			// second handler's is in the build serving; a compile error in the
			// same save keeps that build serving for as long as the test needs.
			gap := harness.LineOf(t, file, "breakpoint: second") - line
			edited := strings.Replace(harness.ReadFile(t, file), strconv.Quote(text), strconv.Quote(text)+" + notDefinedAnywhere", 1)
			edited = strings.Replace(edited, "func zzE2EDebugFirst(", strings.Repeat("// moved down a line\n", gap)+"func zzE2EDebugFirst(", 1)
			harness.WriteFile(t, file, edited)
			line = harness.LineOf(t, file, "breakpoint: first")
			if bps := breakpointsMovedBySave(d, file, line); len(bps) != 1 || bps[0].Verified {
				t.Errorf("the editor was told %+v; want its breakpoint not verified until the build of the save binds it", bps)
			}
			d.WaitOutput("undefined: notDefinedAnywhere")
			if body := getUnhalted(t, d, second); body != "second "+text {
				t.Errorf("GET the second handler: %q", body)
			}
			if body := getUnhalted(t, d, first); body != "first "+text {
				t.Errorf("GET the first handler: %q", body)
			}
			// The fix: the save's build serves, with the breakpoint where the
			// editor shows it, and says so.
			harness.ReplaceIn(t, file, strconv.Quote(text)+" + notDefinedAnywhere", strconv.Quote("moved"))
			text = "moved"
			d.WaitOutput("serving")
			bound := d.WaitEvent("breakpoint").(*dap.BreakpointEvent).Body.Breakpoint
			if !bound.Verified || bound.Line != line {
				t.Errorf("once the new build serves the editor is told %+v; want verified at line %d", bound, line)
			}
			if body := hitBreakpoint(t, d, first, file, line); body != "first "+text {
				t.Errorf("body after continue %q", body)
			}
			if body := getUnhalted(t, d, second); body != "second "+text {
				t.Errorf("GET the second handler: %q", body)
			}
		}},

		{Name: "five saves that move the handler: each stops in the new build at the moved line", Run: func(t *testing.T) {
			d := session(t)
			for i := 1; i <= 5; i++ {
				next := fmt.Sprintf("save %d", i)
				line = moveFirstDown(t, file, 1, text, next)
				text = next
				breakpointsMovedBySave(d, file, line)
				t.Logf("save %d: %s", i, strings.TrimSpace(d.WaitOutput("serving")))
				if body := hitBreakpoint(t, d, first, file, line); body != "first "+text {
					t.Errorf("save %d: body after continue %q, want %q", i, body, "first "+text)
				}
			}
		}},

		{Name: "a save while halted: the editor sees the program running, the new build stops", Run: func(t *testing.T) {
			d := session(t)
			go harness.Get(first) //nolint:errcheck // cut off when its build is replaced
			d.WaitEvent("stopped")
			harness.ReplaceIn(t, file, strconv.Quote(text), strconv.Quote("after a halt"))
			text = "after a halt"
			d.WaitOutput("serving")
			d.WaitEvent("continued")
			if body := hitBreakpoint(t, d, first, file, line); body != "first "+text {
				t.Errorf("body after continue %q", body)
			}
		}},

		{Name: "a compile error: the last good build runs on under the debugger, the message is in the editor", Run: func(t *testing.T) {
			d := session(t)
			harness.ReplaceIn(t, file, strconv.Quote(text), strconv.Quote(text)+" + notDefinedAnywhere")
			t.Logf("debug console: %s", strings.TrimSpace(d.WaitOutput("undefined: notDefinedAnywhere")))
			if body := hitBreakpoint(t, d, first, file, line); body != "first "+text {
				t.Errorf("body after continue %q, want the last good build's", body)
			}
			harness.ReplaceIn(t, file, strconv.Quote(text)+" + notDefinedAnywhere", strconv.Quote("fixed"))
			text = "fixed"
			d.WaitOutput("serving")
			if body := hitBreakpoint(t, d, first, file, line); body != "first "+text {
				t.Errorf("body after continue %q", body)
			}
		}},

		{Name: "a burst of ten saves ends with one server and one delve, the breakpoint bound in the last", Run: func(t *testing.T) {
			d := session(t)
			text = saveBurst(text, "debug burst", 10, func(old, new string) { harness.ReplaceIn(t, file, old, new) })
			// Each save cancels the build before it (they take far longer
			// than 100 ms), so the one build that serves is the last save's,
			// and the debug console says when. The process count alone
			// can hold before that build has even started.
			d.WaitOutput("serving")
			harness.Eventually(t, time.Minute, "one server, one delve, no build", func() (bool, string) {
				n, listing := p.processes("debug")
				return n["server"] == 1 && n["dlv"] == 1 && n["go build"] == 0, listing
			})
			if body := hitBreakpoint(t, d, first, file, line); body != "first "+text {
				t.Errorf("body after continue %q, want %q", body, "first "+text)
			}
			if logs := p.Logs(); strings.Contains(logs, "address already in use") {
				t.Errorf("a server or a delve started before the old one let go of its port:\n%s", logs)
			}
		}},

		{Name: "the session never heard terminated or exited", Run: func(t *testing.T) {
			if n, m := d.Count("terminated"), d.Count("exited"); n+m > 0 {
				t.Errorf("the editor received %d terminated and %d exited events", n, m)
			}
		}},

		{Name: "disconnect (the stop button) leaves the app serving with no breakpoint", Run: func(t *testing.T) {
			d := session(t)
			d.Request("disconnect", map[string]any{"restart": false, "terminateDebuggee": true})
			for range 3 {
				harness.WaitBody(t, 10*time.Second, first, "first "+text)
			}
		}},

		{Name: "a client that connects before a save and speaks after its build took over is answered, in the new build", Run: func(t *testing.T) {
			late = harness.ConnectDAP(top, p.Addr("debug", 2345))
			late.ReportTo(t)
			harness.ReplaceIn(t, file, strconv.Quote(text), strconv.Quote("late"))
			text = "late"
			// The front switches after the debug port: this build's delve
			// has taken over.
			harness.WaitBody(t, time.Minute, first, "first "+text)
			late.Initialize()
			line := harness.LineOf(t, file, "breakpoint: second")
			late.Attach(attach, file, line)
			if body := hitBreakpoint(t, late, second, file, line); body != "second "+text {
				t.Errorf("body after continue %q", body)
			}
		}},

		{Name: "an editor that vanishes while a request is halted leaves the app serving, with no breakpoint", Run: func(t *testing.T) {
			late.ReportTo(t)
			halted := make(chan error, 1)
			go func() {
				_, body, err := harness.Get(second)
				if err == nil && body != "second "+text {
					err = fmt.Errorf("body %q", body)
				}
				halted <- err
			}()
			late.WaitEvent("stopped")
			late.Vanish()
			if err := <-halted; err != nil {
				t.Errorf("the request halted when the editor vanished: %v; want it answered", err)
			}
			for range 3 {
				if _, body, err := harness.Get(second); err != nil || body != "second "+text {
					t.Errorf("GET after the editor vanished: %q, %v", body, err)
				}
			}
		}},

		{Name: "dlv connect, delve's own API, reaches the newest delve", Run: func(t *testing.T) {
			// dlv-clear speaks it (as GoLand does) through the same port.
			p.Exec("debug", "dlv-clear")
			harness.WaitBody(t, 10*time.Second, first, "first "+text)
		}},

		{Name: "saves under load refuse no request", Run: func(t *testing.T) {
			gen := load.Start(strings.TrimPrefix(base, "http://"), "/zz-e2e-debug/second", 4, "")
			stopped := false
			defer func() { // when the step ended early
				if !stopped {
					gen.Stop()
				}
			}()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if err := gen.WaitOK(ctx, 100); err != nil {
				t.Fatalf("load before the saves: %v", err)
			}
			for i := 1; i <= 2; i++ {
				next := fmt.Sprintf("under load %d", i)
				harness.ReplaceIn(t, file, strconv.Quote(text), strconv.Quote(next))
				text = next
				harness.WaitBody(t, time.Minute, first, "first "+text)
				harness.WaitMore(t, gen, 50)
			}
			stopped = true
			if result := gen.Stop(); len(result.Failed) > 0 {
				t.Errorf("requests failed during the saves: %v", result.Failed)
			}
		}},

		{Name: "the container wrote nothing into app", Run: func(t *testing.T) {
			checkOnlyWritten(t, appDir, before, map[string]bool{debugFile: true})
		}},

		{Name: "stop is graceful", Run: func(t *testing.T) {
			p.Compose("stop")
			p.checkStoppedGracefully(t, "debug")
		}},

		{Name: "make clean leaves nothing of the project", Run: func(t *testing.T) {
			// The stopped debug container holds the volumes: a plain
			// `docker compose down -v` leaves them ("still in use").
			p.Command("make", "clean", "IMAGE="+harness.UniqueName("go-webapp-e2e-none-"))
			label := "label=com.docker.compose.project=" + p.Name
			if left := harness.Docker(t, "ps", "-a", "-q", "--filter", label) + harness.Docker(t, "volume", "ls", "-q", "--filter", label); left != "" {
				t.Errorf("make clean left containers or volumes of the project: %s", left)
			}
		}},
	}, p.Project)
}
