package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-dap"

	"e2e/harness"
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

// hitBreakpoint sends GET / and checks that it stops at file:line, that the
// top frame names the host's file, and that c, the handler's echo.Context,
// can be read; then it continues and returns the response's body.
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
			t.Fatalf("GET / after continue: %v", r.err)
		}
		return r.body
	case <-time.After(time.Minute):
		t.Fatal("GET / did not complete after continue")
		return ""
	}
}

// moveHandlerDown saves an edit to file that gives the hello handler the
// body text and puts a comment line above it, so that the handler's lines
// move down one, and returns the line of its return statement now.
func moveHandlerDown(t *testing.T, file, old, text string) int {
	t.Helper()
	harness.ReplaceIn(t, file, strconv.Quote(old), strconv.Quote(text))
	harness.ReplaceIn(t, file, "func handleHello()", "// moved down a line\nfunc handleHello()")
	return harness.LineOf(t, file, strconv.Quote(text))
}

// breakpointsMovedBySave sends what VS Code sends after a save whose edit
// moved the breakpoints of file: the lines where the editor now shows them.
func breakpointsMovedBySave(d *harness.DAP, file string, line int) {
	d.Request("setBreakpoints", map[string]any{"source": map[string]any{"path": file},
		"breakpoints": []map[string]any{{"line": line}}, "sourceModified": true})
}

// TestDebugLoop: `docker compose --profile debug up` runs the dev loop under
// delve, and ONE DAP session, configured by the committed launch.json as VS
// Code does, stays attached for the whole test: through saves that move
// the breakpoint, a save while halted, a compile error, a burst of saves;
// its breakpoints stop requests in each new build, and it never hears
// terminated or exited.
func TestDebugLoop(t *testing.T) {
	t.Parallel()
	p := newDevProject(t, "debug")
	cfg := vscodeAttach(t, p.Dir)
	var url string
	var d *harness.DAP
	line := harness.LineOf(t, p.handler, `"Hello, World!"`)
	text := "Hello, World!"
	appDir := filepath.Join(p.Dir, "app")
	before := harness.TreeState(t, appDir)
	session := func(step *testing.T) *harness.DAP { d.ReportTo(step); return d }
	top := t // the session outlives the step that opens it

	harness.RunSteps(t, []harness.Step{
		{Name: "up serves under delve", Run: func(t *testing.T) {
			p.Build()
			p.Compose("up", "-d")
			url = p.URL("debug") + "/"
			harness.WaitBody(t, 2*time.Minute, url, "Hello, World!")
		}},

		{Name: "one attach: a breakpoint stops a request", Run: func(t *testing.T) {
			// At the port Docker published, standing in for cfg.Port.
			d = harness.DialDAP(top, p.Addr("debug", 2345))
			d.ReportTo(t)
			d.Attach(map[string]any{"request": "attach", "mode": cfg.Mode, "substitutePath": cfg.SubstitutePath}, p.handler, line)
			if body := hitBreakpoint(t, d, url, p.handler, line); body != text {
				t.Errorf("body after continue %q", body)
			}
		}},

		{Name: "five saves that move the handler: each stops in the new build at the moved line", Run: func(t *testing.T) {
			d := session(t)
			for i := 1; i <= 5; i++ {
				next := fmt.Sprintf("Hello, save %d!", i)
				line = moveHandlerDown(t, p.handler, text, next)
				text = next
				breakpointsMovedBySave(d, p.handler, line)
				t.Logf("save %d: %s", i, strings.TrimSpace(d.WaitOutput("serving")))
				if body := hitBreakpoint(t, d, url, p.handler, line); body != text {
					t.Errorf("save %d: body after continue %q, want %q", i, body, text)
				}
			}
		}},

		{Name: "a save while halted: the editor sees the program running, the new build stops", Run: func(t *testing.T) {
			d := session(t)
			go harness.Get(url) //nolint:errcheck // cut off when its build is replaced
			d.WaitEvent("stopped")
			harness.ReplaceIn(t, p.handler, strconv.Quote(text), `"Hello, after a halt!"`)
			text = "Hello, after a halt!"
			d.WaitOutput("serving")
			d.WaitEvent("continued")
			if body := hitBreakpoint(t, d, url, p.handler, line); body != text {
				t.Errorf("body after continue %q", body)
			}
		}},

		{Name: "a compile error: the last good build runs on under the debugger, the message is in the editor", Run: func(t *testing.T) {
			d := session(t)
			harness.ReplaceIn(t, p.handler, strconv.Quote(text), strconv.Quote(text)+" + notDefinedAnywhere")
			t.Logf("debug console: %s", strings.TrimSpace(d.WaitOutput("undefined: notDefinedAnywhere")))
			if body := hitBreakpoint(t, d, url, p.handler, line); body != text {
				t.Errorf("body after continue %q, want the last good build's", body)
			}
			harness.ReplaceIn(t, p.handler, strconv.Quote(text)+" + notDefinedAnywhere", `"Hello, fixed!"`)
			text = "Hello, fixed!"
			d.WaitOutput("serving")
			if body := hitBreakpoint(t, d, url, p.handler, line); body != text {
				t.Errorf("body after continue %q", body)
			}
		}},

		{Name: "a burst of ten saves ends with one server and one delve, the breakpoint bound in the last", Run: func(t *testing.T) {
			d := session(t)
			text = saveBurst(text, "debug burst", 10, func(old, new string) { harness.ReplaceIn(t, p.handler, old, new) })
			// Each save cancels the build before it (they take far longer
			// than 100 ms), so the one build that serves is the last save's,
			// and the debug console says when. The process count alone
			// can hold before that build has even started.
			d.WaitOutput("serving")
			harness.Eventually(t, time.Minute, "one server, one delve, no build", func() (bool, string) {
				n, listing := p.processes("debug")
				return n["server"] == 1 && n["dlv"] == 1 && n["go build"] == 0, listing
			})
			if body := hitBreakpoint(t, d, url, p.handler, line); body != text {
				t.Errorf("body after continue %q, want %q", body, text)
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
				harness.WaitBody(t, 10*time.Second, url, text)
			}
		}},

		{Name: "dlv connect, delve's own API, reaches the newest delve", Run: func(t *testing.T) {
			// dlv-clear speaks it (as GoLand does) through the same port.
			p.Exec("debug", "dlv-clear")
			harness.WaitBody(t, 10*time.Second, url, text)
		}},

		{Name: "saves under load refuse no request", Run: func(t *testing.T) {
			p.savesUnderLoad(t, "debug", text, 2, func(old, new string) { harness.ReplaceIn(t, p.handler, old, new) })
		}},

		{Name: "the container wrote nothing into app", Run: func(t *testing.T) {
			checkOnlyWritten(t, appDir, before, map[string]bool{"handlers.go": true})
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
