package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"e2e/harness"
	"e2e/load"
)

// The overlay devloop's page script paints over a page (devloop/browser.js).
const (
	overlay       = "#devloop-overlay"
	overlayOutput = "#devloop-overlay .devloop-output"
)

// TestBrowser walks through a web developer's loop in a real browser: a
// page under `Content-Security-Policy: default-src 'self'`, with nothing
// done in it, reloads itself when a save serves, shows the compiler's
// message when a save does not compile (also in a page opened meanwhile),
// and loses it with the fix; clients keep requesting a JSON route
// throughout, and none is refused. BROWSER_SCREENSHOT=<file.png> saves the
// overlay as docs/development.md shows it.
func TestBrowser(t *testing.T) {
	if harness.Chromium() == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium on PATH: .ci/run installs Debian's chromium package")
		}
		t.Skip("no chromium on PATH: apt-get install chromium (Debian's package) to run the browser test")
	}
	t.Parallel()
	repo := harness.CopyRepo(t)
	page := harness.AddPage(t, repo, "page v1", true)
	p := harness.NewProject(t, repo)
	var pageURL, jsonURL string
	var gen *load.Generator
	// The browser and the clients belong to the whole walk, not to a step.
	tab := harness.NewBrowser(t)
	loads := harness.CountLoads(t, tab)
	late := harness.NewTab(t, tab)
	defer func() {
		if gen != nil {
			gen.Stop()
		}
	}()
	const timeout = 2 * time.Minute // bounds a broken run only
	// do runs chromedp actions in a tab, failing the step on an error.
	do := func(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, timeout)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	connected := chromedp.Poll[chromedp.Void](`window.__devloop && window.__devloop.connected`, chromedp.WithPollingTimeout(timeout))

	harness.RunSteps(t, []harness.Step{
		{Name: "up serves the page with the script", Run: func(t *testing.T) {
			p.Build()
			// A port of its own rather than one Docker picks: a container
			// that restarts keeps it, and the open page reconnects to it.
			p.Command("env", "HOST_PORT="+strconv.Itoa(freePort(t)), "docker", "compose", "up", "-d")
			base := p.URL("dev")
			pageURL, jsonURL = base+harness.PagePath, base+harness.JSONPath
			harness.Eventually(t, time.Minute, "the page", func() (bool, string) {
				status, body, err := harness.Get(pageURL)
				return err == nil && status == http.StatusOK && strings.Contains(body, "page v1"), body
			})
			gen = load.Start(strings.TrimPrefix(base, "http://"), harness.JSONPath, 2, "")
			harness.WaitMore(t, gen, 20)
			do(t, tab, "opening the page", chromedp.Navigate(pageURL), chromedp.WaitReady(harness.PageShows("page v1")),
				// Under the page's CSP only a script from the page's own
				// origin runs, and only then does it connect.
				connected)
		}},

		{Name: "a save reloads the page once, with the new build", Run: func(t *testing.T) {
			before := loads.N()
			harness.ReplaceIn(t, page, `"page v1"`, `"page v2"`)
			do(t, tab, "the page showing the save", chromedp.WaitReady(harness.PageShows("page v2")), connected)
			if n := loads.N() - before; n != 1 {
				t.Errorf("the page loaded %d times for one save, want 1: a reload before the new build served shows the old page", n)
			}
		}},

		{Name: "a compile error shows in the page", Run: func(t *testing.T) {
			harness.ReplaceIn(t, page, `"page v2"`, `"page v2" + notDefinedAnywhere`)
			do(t, tab, "the overlay", chromedp.WaitVisible(chromedp.CSS(overlayOutput)))
			checkOverlay(t, tab, do)
			if name := os.Getenv("BROWSER_SCREENSHOT"); name != "" {
				shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				harness.WriteFile(t, name, string(shot))
			}
			// The old build goes on serving, and says so to other clients.
			resp, err := http.Get(jsonURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if stale := resp.Header.Get("Devloop-Stale"); resp.StatusCode != http.StatusOK || !strings.Contains(stale, "did not compile") {
				t.Errorf("during the compile error GET %s: %d, Devloop-Stale: %q; want 200 with the header", harness.JSONPath, resp.StatusCode, stale)
			}
		}},

		{Name: "a page opened meanwhile shows it at once, and it can be dismissed", Run: func(t *testing.T) {
			do(t, late, "the new tab's overlay", chromedp.Navigate(pageURL), chromedp.WaitReady(harness.PageShows("page v2")),
				chromedp.WaitVisible(chromedp.CSS(overlayOutput)))
			checkOverlay(t, late, do)
			do(t, late, "dismissing the overlay", chromedp.Click(chromedp.CSS(overlay+" button")),
				chromedp.WaitNotPresent(chromedp.CSS(overlay)))
		}},

		{Name: "the fix removes it and shows the fixed content", Run: func(t *testing.T) {
			harness.ReplaceIn(t, page, `"page v2" + notDefinedAnywhere`, `"page v3"`)
			for _, tb := range []context.Context{tab, late} {
				do(t, tb, "the fixed page", chromedp.WaitReady(harness.PageShows("page v3")), connected,
					chromedp.WaitNotPresent(chromedp.CSS(overlay)))
			}
			resp, err := http.Get(jsonURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if stale := resp.Header.Get("Devloop-Stale"); stale != "" {
				t.Errorf("after the fix: Devloop-Stale: %q", stale)
			}
		}},

		{Name: "no request was refused", Run: func(t *testing.T) {
			harness.WaitMore(t, gen, 20)
			result := gen.Stop()
			gen = nil
			if len(result.Failed) > 0 || len(result.OK) == 0 {
				t.Errorf("requests to %s during the saves: %d answered, failed: %v", harness.JSONPath, len(result.OK), result.Failed)
			}
		}},

		{Name: "a page reconnects to a restarted container and reloads", Run: func(t *testing.T) {
			before, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.__devloop.build`))
			if err != nil {
				t.Fatalf("the build the page knows: %v", err)
			}
			p.Compose("restart", "dev")
			harness.Eventually(t, timeout, "the page to reload with the restarted container's build", func() (bool, string) {
				now, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.__devloop && window.__devloop.connected ? window.__devloop.build : ""`))
				return err == nil && now != "" && now != before, fmt.Sprintf("build %q, %v", now, err)
			})
			do(t, tab, "the page after the restart", chromedp.WaitReady(harness.PageShows("page v3")))
		}},

		{Name: "a JSON route is the same with the script feature off", Run: func(t *testing.T) {
			on := exchange(t, jsonURL)
			p.Command("env", "DEVLOOP_BROWSER=off", "docker", "compose", "up", "-d", "--force-recreate")
			pageURL, jsonURL = p.URL("dev")+harness.PagePath, p.URL("dev")+harness.JSONPath
			harness.WaitBody(t, time.Minute, jsonURL, on.body)
			if off := exchange(t, jsonURL); off.String() != on.String() {
				t.Errorf("GET %s\nwith the script feature:\n%s\nwithout:\n%s", harness.JSONPath, on, off)
			}
			_, body, err := harness.Get(pageURL)
			if err != nil || strings.Contains(body, "/__devloop/") || !strings.Contains(body, "page v3") {
				t.Errorf("with DEVLOOP_BROWSER=off the page is %q (%v); want it as the app sent it", body, err)
			}
		}},
	}, p)
}

// checkOverlay reads the overlay in tab: the compiler's message, naming the
// file as the repository does.
func checkOverlay(t *testing.T, tab context.Context, do func(*testing.T, context.Context, string, ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	text, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(overlayOutput)))
	if err != nil {
		t.Fatalf("reading the overlay: %v", err)
	}
	if !strings.Contains(text, "app/zz_e2e_page.go:") || !strings.Contains(text, "undefined: notDefinedAnywhere") || strings.Contains(text, "/src/") {
		t.Errorf("the overlay says %q; want the compiler's message naming app/zz_e2e_page.go", text)
	}
}

// response is what a client sees of a response, but for the Date.
type response struct {
	status int
	header http.Header
	body   string
}

func exchange(t *testing.T, url string) response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Header.Del("Date")
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

func (r response) String() string {
	var lines []string
	for name, values := range r.header {
		lines = append(lines, name+": "+strings.Join(values, ", "))
	}
	slices.Sort(lines)
	return strconv.Itoa(r.status) + "\n" + strings.Join(lines, "\n") + "\n\n" + r.body
}
