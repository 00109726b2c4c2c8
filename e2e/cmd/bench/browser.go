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
// same image with the same edits, one after the other in the same run; and
// counts for each how often a reload showed the old content. The page has
// no Content-Security-Policy: air's script is inline, and a policy of
// default-src 'self' would block it.
func (b *bench) browserReload() {
	title := fmt.Sprintf("10. The browser: save → the new content visible in an open page, %d edits", b.edits)
	if harness.Chromium() == "" {
		b.add(title, "not measured", "no chromium on PATH", "apt-get install chromium (Debian's package), as .ci/run does")
		return
	}
	tab := harness.NewBrowser(b)
	// Every document the tab loads reports its heading once parsed, so that
	// a reload that showed the old content is seen, however soon the next
	// one replaces it.
	loads := make(chan string, 100)
	err := chromedp.Do(tab,
		chromedp.ExposeFunc("zzBenchLoaded", func(_ context.Context, text string) (chromedp.Void, error) {
			select {
			case loads <- text:
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
		}))
	if err != nil {
		b.Fatalf("preparing the browser: %v", err)
	}

	b.Logf("browser (a): devloop's page script, %d edits", b.edits)
	ours := harness.CopyOf(b, b.repo)
	oursPage := harness.AddPage(b, ours, "bench 0", false)
	dev := harness.NewProject(b, ours)
	dev.Compose("up", "-d", "--build")
	oursTimes, oursOld := b.pageSeries(tab, loads, dev.URL("dev")+harness.PagePath, oursPage)
	dev.Compose("stop") // its CPU for air's series

	b.Logf("browser (b): air's proxy in the same image, %d edits", b.edits)
	theirs := harness.CopyOf(b, b.repo)
	theirsPage := harness.AddPage(b, theirs, "bench 0", false)
	harness.WriteFile(b, filepath.Join(theirs, ".air.toml"), airProxyConfig)
	air := harness.StartContainer(b, dev.Name+"-dev",
		[]string{"--user", "0", "-v", theirs + ":/work", "-w", "/work", "-e", "LOG_FORMAT=text", "-e", "PORT=1324", "--entrypoint", "air"})
	// tmp/ is root's: remove it from inside before the directory goes.
	b.Cleanup(func() {
		_, _ = harness.Run(context.Background(), "", nil, "docker", "exec", air.Name, "rm", "-rf", "/work/tmp")
	})
	theirsTimes, theirsOld := b.pageSeries(tab, loads, air.URL+harness.PagePath, theirsPage)

	b.add(title, "(a) devloop's page script", stats(oursTimes), "reloads when the new build has taken over port 1323")
	b.add(title, "(a) reloads that showed the old content", fmt.Sprintf("%d of %d", oursOld, b.edits), "goal 0")
	b.add(title, "(b) air's proxy, same image and edits", stats(theirsTimes),
		"`[proxy]` in .air.toml: air stops the server, builds, starts the new one and reloads the page as it starts")
	b.add(title, "(b) reloads that showed the old content", fmt.Sprintf("%d of %d", theirsOld, b.edits), "")
	b.add(title, "a/b (median)", fmt.Sprintf("%.2f", ratio(median(oursTimes), median(theirsTimes))), "lower is better")
	if oursOld > 0 {
		b.far("%d of %d reloads by devloop's page script showed the old content", oursOld, b.edits)
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

// pageSeries opens url in tab, warms up with two edits, then for each of
// b.edits edits of file (the page's text) returns the time from the save to
// the first document that showed the new text, and counts the edits after
// which a document showed the old text first.
func (b *bench) pageSeries(tab context.Context, loads chan string, url, file string) (times []time.Duration, showedOld int) {
	harness.Eventually(b, 5*time.Minute, "the page at "+url, func() (bool, string) {
		status, body, err := harness.Get(url)
		return err == nil && status == http.StatusOK, fmt.Sprint(status, body, err)
	})
	text := "bench 0"
	drain := func() {
		for {
			select {
			case <-loads:
			default:
				return
			}
		}
	}
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(harness.PageShows(text)))
	cancel()
	if err != nil {
		b.Fatalf("opening %s: %v", url, err)
	}
	for i := range b.edits + 2 {
		time.Sleep(500 * time.Millisecond) // let the page connect, and the new server settle
		drain()
		next := "bench " + strconv.Itoa(i+1)
		harness.ReplaceIn(b, file, strconv.Quote(text), strconv.Quote(next))
		start := time.Now()
		old, stuck := false, false
		for shown := ""; shown != next; {
			select {
			case shown = <-loads:
				old = old || shown == text
			case <-time.After(15 * time.Second):
				if !old || stuck {
					b.Fatalf("no document with %q within 15 s of the save to %s", next, url)
				}
				// The reload showed the old page and nothing came after:
				// the developer presses F5.
				stuck = true
				if err := chromedp.Do(tab, chromedp.Reload()); err != nil {
					b.Fatalf("reloading %s: %v", url, err)
				}
			}
		}
		took := time.Since(start)
		text = next
		if i < 2 {
			continue // warm-up
		}
		if old {
			showedOld++
		}
		if !stuck { // a time that includes a wait for F5 says nothing
			times = append(times, took)
		}
	}
	return times, showedOld
}
