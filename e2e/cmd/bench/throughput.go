package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"e2e/harness"
	"e2e/load"
)

// bareBaseline is net/http's hello world and its Dockerfile: the baseline
// of the throughput rows.
//
//go:embed baselines/bare
var bareBaseline embed.FS

// throughput counts the requests per second 32 keep-alive clients get from
// the runner, beside the bare net/http baseline serving the same body. The
// servers run side by side and take turns under load, several rounds,
// so that a noisy moment of the machine does not land on one of them only;
// each figure is the median of its rounds.
func (b *bench) throughput() {
	rounds, seconds := 5, 4
	if b.quick {
		rounds, seconds = 1, 3
	}
	body := b.greeting(b.repo) // what the runner built last serves
	servers := []struct {
		label string
		c     *harness.Container
		rates []float64
	}{
		{label: "bare net/http", c: b.startRunner(b.buildBare(), []string{"-e", "BODY=" + body})},
		{label: "this app", c: b.startRunner(b.prodImage(), nil)},
		{label: "this app, LOG_LEVEL=warn", c: b.startRunner(b.prodImage(), []string{"-e", "LOG_LEVEL=warn"})},
		// The same lines, written by the app but discarded by Docker: what
		// logging costs inside the process, without the log driver's work.
		{label: "this app, --log-driver none", c: b.startRunner(b.prodImage(), []string{"--log-driver", "none"})},
	}
	for round := range rounds {
		for i := range servers {
			s := &servers[i]
			b.Logf("throughput: round %d of %d, %s, %d s", round+1, rounds, s.label, seconds)
			gen := load.Start(s.c.Addr, "/", 32, body)
			select {
			case <-time.After(time.Duration(seconds) * time.Second):
			case <-b.ctx.Done():
			}
			result := gen.Stop()
			s.rates = append(s.rates, float64(len(result.OK))/result.Elapsed.Seconds())
		}
	}
	bare, ours, quiet, undriven := medianRate(servers[0].rates), medianRate(servers[1].rates), medianRate(servers[2].rates), medianRate(servers[3].rates)

	title := fmt.Sprintf("6. Throughput: GET /, 32 keep-alive clients on loopback, median of %d rounds of %d s", rounds, seconds)
	b.add(title, "bare net/http hello world", fmt.Sprintf("%.0f req/s", bare), "same build, same base image")
	b.add(title, "this app (a JSON log line per request)", fmt.Sprintf("%.0f req/s", ours), fmt.Sprintf("%.2f× bare; goal ≥ 0.9", ours/bare))
	b.add(title, "this app, LOG_LEVEL=warn", fmt.Sprintf("%.0f req/s", quiet), fmt.Sprintf("%.2f× bare: no log line at all", quiet/bare))
	b.add(title, "this app, `--log-driver none`", fmt.Sprintf("%.0f req/s", undriven), fmt.Sprintf("%.2f× bare: every line written, Docker discards them", undriven/bare))
}

func medianRate(rates []float64) float64 {
	sorted := slices.Sorted(slices.Values(rates))
	return sorted[len(sorted)/2]
}

// buildBare builds the bare baseline from its embedded files and returns the
// image's name.
func (b *bench) buildBare() string {
	b.Logf("throughput: building the bare net/http baseline")
	dir := b.TempDir()
	src, _ := fs.Sub(bareBaseline, "baselines/bare")
	if err := os.CopyFS(dir, src); err != nil {
		b.Fatalf("%v", err)
	}
	tag := b.image + "-bare"
	defer b.built(tag)
	harness.Command(b, dir, nil, "docker", "buildx", "build", "--load", "-t", tag,
		"--build-arg", "GO_VERSION="+harness.MakeVariable(b, "GO_VERSION"),
		"--build-arg", "ALPINE_VERSION="+harness.MakeVariable(b, "ALPINE_VERSION"), ".")
	return tag
}
