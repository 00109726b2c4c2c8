package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
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
	PostDebugTask  string `json:"postDebugTask"`
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

// postDebugTask is the shell command of the task launch.json runs when a
// session ends, from the committed .vscode/tasks.json.
func postDebugTask(t *testing.T, cfg launchConfig) string {
	t.Helper()
	var tasks struct {
		Tasks []struct{ Label, Type, Command string }
	}
	if err := json.Unmarshal([]byte(harness.ReadFile(t, filepath.Join(harness.RepoRoot(), ".vscode", "tasks.json"))), &tasks); err != nil {
		t.Fatalf(".vscode/tasks.json: %v", err)
	}
	for _, task := range tasks.Tasks {
		if task.Label == cfg.PostDebugTask && task.Type == "shell" {
			return task.Command
		}
	}
	t.Fatalf("no shell task %q in .vscode/tasks.json", cfg.PostDebugTask)
	return ""
}

// debugSession attaches to delve as VS Code does with cfg, at addr (the
// port Docker published, standing in for cfg.Port), and sets a breakpoint at
// file:line given by its path on the host.
func debugSession(t *testing.T, addr string, cfg launchConfig, file string, line int) *harness.DAP {
	t.Helper()
	d := harness.DialDAP(t, addr)
	d.Request("attach", map[string]any{"request": "attach", "mode": cfg.Mode, "substitutePath": cfg.SubstitutePath})
	resp := d.Request("setBreakpoints", map[string]any{"source": map[string]any{"path": file}, "breakpoints": []map[string]any{{"line": line}}})
	if bps := resp.(*dap.SetBreakpointsResponse).Body.Breakpoints; len(bps) != 1 || !bps[0].Verified {
		t.Fatalf("breakpoint at %s:%d not verified: %+v", file, line, bps)
	}
	d.Request("configurationDone", nil)
	return d
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

// waitDelveRunning waits until delve has attached to the server and let it
// run on (--continue). A client that attaches in the moment before that can
// hang on its first request (delve v1.27.2; docs/debugging.md says what a
// user sees), so the test attaches after it, as a person would.
func waitDelveRunning(t *testing.T, p *devProject) {
	t.Helper()
	harness.Eventually(t, time.Minute, "delve attached and the server running", func() (bool, string) {
		out, err := p.TryExec("debug", "sh", "-c",
			`for s in /proc/[0-9]*/status; do grep -q '^Name:.app$' "$s" && ! grep -q '^State:.Z' "$s" && grep -E '^(State|TracerPid):' "$s"; done; true`)
		if err != nil {
			return false, out
		}
		return strings.Contains(out, "TracerPid:") && !strings.Contains(out, "TracerPid:\t0") &&
			!strings.Contains(out, "tracing stop") && !strings.Contains(out, "(stopped)"), out
	})
}

// lineOf is the 1-based line of file holding text.
func lineOf(t *testing.T, file, text string) int {
	t.Helper()
	for i, line := range strings.Split(harness.ReadFile(t, file), "\n") {
		if strings.Contains(line, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", file, text)
	return 0
}

// TestDebugLoop: `docker compose --profile debug up` runs the dev loop under
// delve; a DAP client configured by the committed launch.json stops a
// request at a breakpoint set by the host's path, before and after a reload.
func TestDebugLoop(t *testing.T) {
	t.Parallel()
	p := newDevProject(t, "debug")
	cfg := vscodeAttach(t, p.Dir)
	var url, dlvAddr string
	line := lineOf(t, p.handler, `"Hello, World!"`)
	appDir := filepath.Join(p.Dir, "app")
	before := harness.TreeState(t, appDir)

	harness.RunSteps(t, []harness.Step{
		{Name: "up serves under delve", Run: func(t *testing.T) {
			p.Build()
			p.Compose("up", "-d")
			url = p.URL("debug") + "/"
			harness.WaitBody(t, 2*time.Minute, url, "Hello, World!")
			dlvAddr = p.Addr("debug", 2345)
			waitDelveRunning(t, p)
		}},

		{Name: "a breakpoint stops a request", Run: func(t *testing.T) {
			d := debugSession(t, dlvAddr, cfg, p.handler, line)
			if body := hitBreakpoint(t, d, url, p.handler, line); body != "Hello, World!" {
				t.Errorf("body after continue %q", body)
			}
		}},

		{Name: "after a save the breakpoint stops the new code", Run: func(t *testing.T) {
			harness.ReplaceIn(t, p.handler, `"Hello, World!"`, `"Hello, debugged!"`)
			// The old delve goes with the old server; the first answer of the
			// new code comes before a client attaches to the new delve.
			harness.WaitBody(t, 2*time.Minute, url, "Hello, debugged!")
			waitDelveRunning(t, p)
			d := debugSession(t, dlvAddr, cfg, p.handler, line)
			if body := hitBreakpoint(t, d, url, p.handler, line); body != "Hello, debugged!" {
				t.Errorf("body after continue %q", body)
			}
			// Disconnect as VS Code does, leaving the breakpoint set in delve
			// (golang/vscode-go#2368); launch.json's postDebugTask clears it.
			d.Request("disconnect", map[string]any{"terminateDebuggee": false})
			p.Command("sh", "-c", postDebugTask(t, cfg))
			for range 5 {
				harness.WaitBody(t, 10*time.Second, url, "Hello, debugged!")
			}
		}},

		{Name: "compile error keeps the last good build serving under delve", Run: func(t *testing.T) {
			harness.ReplaceIn(t, p.handler, `"Hello, debugged!"`, `"Hello, debugged!" + notDefinedAnywhere`)
			harness.Eventually(t, time.Minute, "the compiler's message in the logs", func() (bool, string) {
				return strings.Contains(p.Logs(), "undefined: notDefinedAnywhere"), "not yet"
			})
			harness.WaitBody(t, time.Minute, url, "Hello, debugged!")
			harness.ReplaceIn(t, p.handler, `"Hello, debugged!" + notDefinedAnywhere`, `"Hello, fixed!"`)
			harness.WaitBody(t, time.Minute, url, "Hello, fixed!")
		}},

		{Name: "saves under load refuse no request", Run: func(t *testing.T) {
			p.savesUnderLoad(t, "debug", "Hello, fixed!", 2, func(old, new string) { harness.ReplaceIn(t, p.handler, old, new) })
		}},

		{Name: "burst of saves ends with one server and one delve of the last version", Run: func(t *testing.T) {
			text := saveBurst("Hello, under load!", "debug burst", func(old, new string) { harness.ReplaceIn(t, p.handler, old, new) })
			harness.WaitBody(t, time.Minute, url, text)
			harness.Eventually(t, time.Minute, "one server, one delve, no build", func() (bool, string) {
				n, listing := p.processes("debug")
				return n["server"] == 1 && n["dlv"] == 1 && n["go build"] == 0, listing
			})
			waitDelveRunning(t, p)
			d := debugSession(t, dlvAddr, cfg, p.handler, line)
			if body := hitBreakpoint(t, d, url, p.handler, line); body != text {
				t.Errorf("body after continue %q, want %q", body, text)
			}
			d.Request("disconnect", map[string]any{"terminateDebuggee": false})
			p.Command("sh", "-c", postDebugTask(t, cfg))
			if logs := p.Logs(); strings.Contains(logs, "address already in use") {
				t.Errorf("a server or a delve started before the old one let go of its port:\n%s", logs)
			}
		}},

		{Name: "a save while the server is halted at a breakpoint serves the new code", Run: func(t *testing.T) {
			d := debugSession(t, dlvAddr, cfg, p.handler, line)
			go harness.Get(url) //nolint:errcheck // it stays halted until the save ends its server
			d.WaitEvent("stopped")
			harness.ReplaceIn(t, p.handler, `"Hello, debug burst 20!"`, `"Hello, after a halt!"`)
			// The new build serves at once; the halted server cannot drain:
			// devloop sees it stay halted and ends its delve, which kills it.
			harness.WaitBody(t, time.Minute, url, "Hello, after a halt!")
			waitDelveRunning(t, p)
			d = debugSession(t, dlvAddr, cfg, p.handler, line)
			if body := hitBreakpoint(t, d, url, p.handler, line); body != "Hello, after a halt!" {
				t.Errorf("body after continue %q", body)
			}
			d.Request("disconnect", map[string]any{"terminateDebuggee": false})
			p.Command("sh", "-c", postDebugTask(t, cfg))
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
