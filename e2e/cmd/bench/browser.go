package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"e2e/harness"
)

// browserReload times save → the new content visible in a page open in a
// browser (headless Chromium), (a) with devloop's page script in the dev
// container, beside (b) air's own proxy ([proxy] in an .air.toml: air
// builds, restarts the server, and its script reloads the page) in the
// same image with the same edits; and counts for each how often a reload
// showed the old content. The two take turns, edit by edit, so that both
// meet the same load of the machine. The page has no
// Content-Security-Policy: air's script is inline, and a policy of
// default-src 'self' would block it.
func (b *bench) browserReload() {
	title := fmt.Sprintf("10. The browser: save → the new content visible in an open page, %d edits each, in turn", b.edits)
	if harness.Chromium() == "" {
		b.add(title, "not measured", "no chromium on PATH", "apt-get install chromium (Debian's package), as .ci/run does")
		return
	}
	browser := harness.NewBrowser(b)

	b.Logf("browser (a): devloop's page script")
	ours := harness.CopyOf(b, b.repo)
	oursPage := harness.AddPage(b, ours, "bench 0", false)
	dev := harness.NewProject(b, ours)
	dev.Compose("up", "-d", "--build")
	a := b.openPage(browser, dev.URL("dev")+harness.PagePath, oursPage)

	b.Logf("browser (b): air's proxy in the same image")
	theirs := harness.CopyOf(b, b.repo)
	theirsPage := harness.AddPage(b, theirs, "bench 0", false)
	harness.WriteFile(b, filepath.Join(theirs, ".air.toml"), airProxyConfig)
	air := harness.StartContainer(b, dev.Name+"-dev",
		[]string{"--user", "0", "-v", theirs + ":/work", "-w", "/work", "-e", "LOG_FORMAT=text", "-e", "PORT=1324", "--entrypoint", "air"})
	// tmp/ is root's: remove it from inside before the directory goes.
	b.Cleanup(func() {
		_, _ = harness.Run(context.Background(), "", nil, "docker", "exec", air.Name, "rm", "-rf", "/work/tmp")
	})
	bb := b.openPage(harness.NewTab(b, browser), air.URL+harness.PagePath, theirsPage)

	b.Logf("browser (a) and (b): %d edits each, in turn", b.edits)
	for i := range b.edits + 2 {
		a.edit(b, i >= 2) // two to warm up
		bb.edit(b, i >= 2)
	}
	b.add(title, "(a) devloop's page script", stats(a.times), "reloads when the new build has taken over port 1323")
	b.add(title, "(a) reloads that showed the old content", fmt.Sprintf("%d of %d", a.showedOld, b.edits), "goal 0")
	b.add(title, "(b) air's proxy, same image and edits", stats(bb.times),
		"`[proxy]` in .air.toml: air stops the server, builds, starts the new one and reloads the page as it starts")
	b.add(title, "(b) reloads that showed the old content", fmt.Sprintf("%d of %d", bb.showedOld, b.edits),
		"a reload that showed the old page and nothing after it: the edit's time is left out (F5 pressed)")
	b.add(title, "a/b (median)", fmt.Sprintf("%.2f", ratio(median(a.times), median(bb.times))), "lower is better")
	if a.showedOld > 0 {
		b.far("%d of %d reloads by devloop's page script showed the old content", a.showedOld, b.edits)
	}
}

// airProxyConfig runs air as its docs show for live reload in the browser:
// air's proxy on the published port 1323, the app on 1324. It builds as
// devloop does, into the container's copy (a literal string: the command
// holds double quotes).
const airProxyConfig = `root = "."
tmp_dir = "tmp"

[build]
cmd = '` + harness.DevBuild + ` -o ./tmp/main ./app'
bin = "./tmp/main"
include_dir = ["app"]
include_ext = ["go"]
exclude_regex = ["_test\\.go$"]
delay = 20

[proxy]
enabled = true
proxy_port = 1323
app_port = 1324
`

// openPage is a page open in a tab, whose text the bench edits.
type openPage struct {
	tab       context.Context
	url, file string
	text      string // what the page says now
	saves     int
	loads     chan string // the text of each document the tab loads
	times     []time.Duration
	showedOld int
}

// openPage opens url in tab. Every document the tab loads from then on
// reports its heading once parsed, so that a reload that showed the old
// content is seen, however soon the next one replaces it.
func (b *bench) openPage(tab context.Context, url, file string) *openPage {
	p := &openPage{tab: tab, url: url, file: file, text: "bench 0", loads: make(chan string, 100)}
	harness.Eventually(b, 5*time.Minute, "the page at "+url, func() (bool, string) {
		status, body, err := harness.Get(url)
		return err == nil && status == http.StatusOK, fmt.Sprint(status, body, err)
	})
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.ExposeFunc("zzBenchLoaded", func(_ context.Context, text string) (chromedp.Void, error) {
			select {
			case p.loads <- text:
			default:
			}
			return chromedp.Void{}, nil
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: `addEventListener("DOMContentLoaded", () => {
					const h = document.getElementById("zz-e2e-text");
					if (h) zzBenchLoaded(h.textContent);
				});`,
			})
			return err
		}),
		chromedp.Navigate(url), chromedp.WaitReady(harness.PageShows(p.text)))
	if err != nil {
		b.Fatalf("opening %s: %v", url, err)
	}
	return p
}

// edit saves the next text and waits for a document that shows it; when
// record is set, it keeps the time from the save to that document, and
// whether a document showed the old text first.
func (p *openPage) edit(b *bench, record bool) {
	time.Sleep(500 * time.Millisecond) // let the page connect, and the new server settle
	for drained := false; !drained; {
		select {
		case <-p.loads:
		default:
			drained = true
		}
	}
	p.saves++
	next := "bench " + strconv.Itoa(p.saves)
	harness.ReplaceIn(b, p.file, strconv.Quote(p.text), strconv.Quote(next))
	start := time.Now()
	old, stuck := false, false
	for shown := ""; shown != next; {
		select {
		case shown = <-p.loads:
			old = old || shown == p.text
		case <-time.After(15 * time.Second):
			if !old || stuck {
				b.Fatalf("no document with %q within 15 s of the save to %s", next, p.url)
			}
			// The reload showed the old page and nothing came after:
			// the developer presses F5.
			stuck = true
			if err := chromedp.Do(p.tab, chromedp.Reload()); err != nil {
				b.Fatalf("reloading %s: %v", p.url, err)
			}
		}
	}
	took := time.Since(start)
	p.text = next
	if !record {
		return
	}
	if old {
		p.showedOld++
	}
	if !stuck { // a time that includes a wait for F5 says nothing
		p.times = append(p.times, took)
	}
	b.Logf("  %s: %s%s", p.url, took.Round(time.Millisecond), map[bool]string{true: ", showed the old page first"}[old])
}
