package harness

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The browser half of the dev loop is tested in a real browser: headless
// Chromium (Debian's chromium package, which .ci/run installs), driven
// through the DevTools protocol by chromedp.

// Chromium is the path of a Chromium or Chrome on PATH; empty when there is
// none.
func Chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// NewBrowser starts a headless Chromium, closed when the test ends, and
// returns the context of its first tab; NewTab opens more.
func NewBrowser(t TB) context.Context {
	t.Helper()
	path := Chromium()
	if path == "" {
		t.Fatalf("no chromium on PATH: install Debian's chromium package (apt-get install chromium), as .ci/run does")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.WindowSize(1000, 560),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return tab
}

// NewTab opens another tab in the browser of tab.
func NewTab(t TB, tab context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tab)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	return ctx
}

// Loads counts the documents a tab loads (the first, and each reload).
type Loads struct {
	mu sync.Mutex
	n  int
}

// CountLoads starts counting the documents tab loads into its main frame.
func CountLoads(t TB, tab context.Context) *Loads {
	t.Helper()
	l := &Loads{}
	err := chromedp.Listen(tab, func(ev any) {
		if nav, ok := ev.(*page.EventFrameNavigated); ok && nav.Frame.ParentID == "" {
			l.mu.Lock()
			l.n++
			l.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listening to the tab: %v", err)
	}
	return l
}

// N is how many documents have loaded.
func (l *Loads) N() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// PagePath and JSONPath are the routes AddPage adds: zz-e2e- paths, unlikely
// to be a user's.
const (
	PagePath = "/zz-e2e-page"
	JSONPath = "/zz-e2e-json"
)

// pageFile holds the page's handlers in a copy: zz_e2e_ is a prefix no
// user's file has.
const pageFile = "app/zz_e2e_page.go"

// AddPage adds to the copy in repo an HTML page at PagePath, served under
// `Content-Security-Policy: default-src 'self'` when csp is set, whose
// <h1 id="zz-e2e-text"> says text, and a JSON route at JSONPath. It returns
// the file that holds text once, as a Go string literal: the one to edit.
func AddPage(t TB, repo, text string, csp bool) string {
	t.Helper()
	routes := filepath.Join(repo, "app", "routes.go")
	source := ReadFile(t, routes)
	m := addRoutesLine.FindStringSubmatchIndex(source) // marker.go
	if m == nil {
		t.Fatalf("%s has no `func addRoutes(e *echo.Echo, ...) {`: the tests add their routes there (docs/testing.md says what a project keeps)", routes)
	}
	e := source[m[2]:m[3]]
	added := fmt.Sprintf("\t%s.GET(%q, zzE2EPage) // the end-to-end tests' routes\n\t%s.GET(%q, zzE2EJSON)\n", e, PagePath, e, JSONPath)
	WriteFile(t, routes, source[:m[1]]+added+source[m[1]:])
	file := filepath.Join(repo, pageFile)
	policy := ""
	if csp {
		policy = "default-src 'self'"
	}
	WriteFile(t, file, `package main

// Added by go-webapp's end-to-end tests to their scratch copy: an HTML page
// and a JSON route whose content they control.

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

const zzE2EText = `+strconv.Quote(text)+`

func zzE2EPage(c echo.Context) error {
	if policy := `+strconv.Quote(policy)+`; policy != "" {
		c.Response().Header().Set("Content-Security-Policy", policy)
	}
	return c.HTML(http.StatusOK, "<!doctype html>\n<html><head><title>zz-e2e</title></head>\n"+
		"<body><h1 id=\"zz-e2e-text\">"+zzE2EText+"</h1></body></html>\n")
}

func zzE2EJSON(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"text": "from the json route"})
}
`)
	return file
}

// PageShows is the XPath of the page's heading saying text.
func PageShows(text string) string {
	return fmt.Sprintf(`//h1[@id="zz-e2e-text"][text()=%q]`, text)
}
