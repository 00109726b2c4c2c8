// Command bench measures what people choose a template by, each figure side
// by side with what it is compared against, in one run on the local engine.
// `make bench` runs it; it prints a Markdown table on stdout, progress on
// stderr, and writes the table to bench/results.md. A file a measurement:
//
//	coldstart.go   a new user's first docker compose up, beside make prod
//	reload.go      save → new response: ours, air's defaults, the host build
//	images.go      binary and image sizes, ours and the tutorial build's
//	rebuild.go     rebuild after a one-line change
//	startstop.go   start → first 200, and docker stop under load
//	devstop.go     docker compose stop of the dev container, a browser's connections open
//	throughput.go  requests per second beside bare net/http
//	kubernetes.go  a rollout under load, where a test cluster is set up
//	noevents.go    reload and idle CPU on a mount that sends no file events
//	baseline.go    reload beside another revision's (BENCH_BASELINE=main)
//	browser.go     save → new content in an open page: devloop's script, air's proxy
//	report.go      the table
//
// Like the end-to-end tests, it relies on nothing of the sample's content:
// the copy it measures gets the tests' own route (harness.AddMarker, GET
// /zz-e2e), whose answer each edit changes and every wait and load asks for,
// so that it runs on a project whose GET / says anything.
//
// The comparison baselines are real files under baselines/, linted with the
// rest. BENCH_QUICK=1 takes fewer samples, for trying it out; BENCH_ONLY
// names the measurements to run (cold,reload,sizes,rebuild,start,stop,
// devstop,throughput,rollout,noevents,baseline,browser; session: reload's row f alone), for working on one; BENCH_BASELINE
// names a git revision whose reload the baseline measurement compares with. The exit status
// is non-zero only when a figure is far from its goal, never on noise.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"e2e/harness"
)

// Bounds far from the goals (the notes in the table), so that only a real
// regression fails the run, never a noisy machine.
const (
	maxReloadOverFloor = 3.0      // reload median / incremental host build
	maxRunnerAddsBytes = 10 << 20 // bytes the runner adds on top of alpine
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := newBench(ctx, os.Getenv("BENCH_QUICK") == "1")
	b.partial = os.Getenv("BENCH_ONLY") != ""
	measurements := []measurement{
		{"cold", b.coldStart}, {"reload", b.reload}, {"sizes", b.sizes}, {"rebuild", b.rebuild}, {"start", b.start},
		{"stop", b.stopUnderLoad}, {"devstop", b.devStop}, {"throughput", b.throughput}, {"rollout", b.rollout}, {"noevents", b.noEvents},
		{"baseline", b.baseline}, {"session", b.session}, {"browser", b.browserReload},
	}
	err := b.run(selected(measurements, os.Getenv("BENCH_ONLY"))...)
	if err != nil {
		// The measurements before the failure are printed all the same;
		// bench/results.md keeps the last whole run.
		b.partial = true
	}
	if reportErr := b.report(); err == nil {
		err = reportErr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	if len(b.farFromGoal) > 0 {
		fmt.Fprintf(os.Stderr, "bench: far from the goal:\n  %s\n", strings.Join(b.farFromGoal, "\n  "))
		os.Exit(1)
	}
}

type measurement struct {
	name string
	run  func()
}

// selected picks the measurements BENCH_ONLY names (comma-separated), all
// when it is empty but session, which reload measures anyway.
func selected(all []measurement, only string) []func() {
	var runs []func()
	for _, m := range all {
		if only == "" && m.name != "session" || slices.Contains(strings.Split(only, ","), m.name) {
			runs = append(runs, m.run)
		}
	}
	return runs
}

// bench is the state of one run. It is the harness.TB the harness verbs
// take: Fatalf ends the run, after every cleanup, with the error.
type bench struct {
	ctx         context.Context
	quick       bool
	partial     bool              // BENCH_ONLY chose some measurements, or one failed
	edits       int               // samples per reload series
	work        string            // scratch directory
	repo        string            // the copy the bench edits and builds
	image       string            // what `make prod` builds here
	dev         *harness.Project  // the dev service on repo
	markers     map[string]string // repository copy -> the text its marker route answers
	sections    []section
	farFromGoal []string
	cleanups    []func()
	failed      bool
	startedAt   time.Time
}

func newBench(ctx context.Context, quick bool) *bench {
	b := &bench{ctx: ctx, quick: quick, edits: 20, markers: map[string]string{}, startedAt: time.Now()}
	if quick {
		b.edits = 5
	}
	return b
}

// fatal is what Fatalf panics with, for run to recover.
type fatal struct{ msg string }

func (b *bench) Helper()                  {}
func (b *bench) Context() context.Context { return b.ctx }
func (b *bench) Failed() bool             { return b.failed }
func (b *bench) Cleanup(f func())         { b.cleanups = append(b.cleanups, f) }
func (b *bench) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.0fs] %s\n", time.Since(b.startedAt).Seconds(), fmt.Sprintf(format, args...))
}
func (b *bench) Errorf(format string, args ...any) {
	b.failed = true
	b.Logf("error: "+format, args...)
}
func (b *bench) Fatalf(format string, args ...any) {
	b.failed = true
	panic(fatal{fmt.Sprintf(format, args...)})
}

func (b *bench) TempDir() string {
	dir, err := os.MkdirTemp(b.work, "tmp-")
	if err != nil {
		b.Fatalf("%v", err)
	}
	return dir
}

// run runs the measurements in order, then every cleanup, last first.
func (b *bench) run(measurements ...func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s", lastLines(f.msg, 20))
		}
		for i := len(b.cleanups) - 1; i >= 0; i-- {
			b.cleanups[i]()
		}
	}()
	if b.work, err = os.MkdirTemp("", "go-webapp-bench-"); err != nil {
		return err
	}
	b.Cleanup(func() { os.RemoveAll(b.work) })
	b.image = harness.UniqueName("go-webapp-bench-")
	b.repo = harness.CopyRepo(b)
	b.addMarker(b.repo)
	for _, measure := range measurements {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		measure()
	}
	return nil
}

// built removes the images refs name now when the run ends, even when a
// later build moves the tag.
func (b *bench) built(refs ...string) {
	for _, ref := range refs {
		if id, err := harness.Run(b.ctx, "", nil, "docker", "image", "inspect", "--format", "{{.Id}}", ref); err == nil {
			b.Cleanup(func() {
				_, _ = harness.Run(context.Background(), "", nil, "docker", "image", "rm", "-f", strings.TrimSpace(id))
			})
		}
	}
}

// makeProd runs make target (prod or prod-scratch) on the copy, with extra
// make arguments.
func (b *bench) makeProd(target string, extra ...string) {
	tag := ":latest"
	if target == "prod-scratch" {
		tag = ":scratch"
	}
	defer b.built(b.image + tag)
	harness.Command(b, b.repo, nil, "make", append([]string{target, "IMAGE=" + b.image, "VERSION=bench"}, extra...)...)
}

// prodImage is the runner image of the bench's copy, built when no earlier
// measurement has built it.
func (b *bench) prodImage() string {
	if _, err := harness.Run(b.ctx, "", nil, "docker", "image", "inspect", b.image+":latest"); err != nil {
		b.makeProd("prod")
	}
	return b.image + ":latest"
}

// devProject is the dev service on the bench's copy, up: created by the
// first measurement that asks, started again after one that stopped it.
func (b *bench) devProject() *harness.Project {
	if b.dev == nil {
		b.dev = harness.NewProject(b, b.repo)
	}
	b.dev.Compose("up", "-d", "--build")
	return b.dev
}

// addMarker adds the marker route to repo, a copy of a revision of the
// repository, answering "Hello, bench!".
func (b *bench) addMarker(repo string) {
	b.markers[repo] = "Hello, bench!"
	harness.AddMarker(b, repo, b.markers[repo])
}

// edit saves a new answer of repo's marker route and returns it: a one-line
// change in app/, as a developer's save.
func (b *bench) edit(repo string) string {
	next := fmt.Sprintf("Hello, bench %d!", time.Now().UnixNano())
	harness.ReplaceIn(b, harness.MarkerFile(repo), strconv.Quote(b.marker(repo)), strconv.Quote(next))
	b.markers[repo] = next
	return next
}

// marker is the text the marker route answers with the code in repo.
func (b *bench) marker(repo string) string {
	text, ok := b.markers[repo]
	if !ok {
		b.Fatalf("%s has no marker route: a copy the bench measures is made by copyRepo, or gets one with addMarker", repo)
	}
	return text
}

// copyRepo copies the bench's copy to a new directory, marker and all.
func (b *bench) copyRepo() string {
	dst := harness.CopyOf(b, b.repo)
	b.markers[dst] = b.marker(b.repo)
	return dst
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
