package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"e2e/harness"
)

type section struct {
	title string
	rows  [][3]string // measure, value, note
}

// add puts a row into the table's section title, in the order of the calls.
func (b *bench) add(title, measure, value, note string) {
	if len(b.sections) == 0 || b.sections[len(b.sections)-1].title != title {
		b.sections = append(b.sections, section{title: title})
	}
	s := &b.sections[len(b.sections)-1]
	s.rows = append(s.rows, [3]string{measure, value, note})
}

// far records a figure far from its goal: the run still reports, then fails.
func (b *bench) far(format string, args ...any) {
	b.farFromGoal = append(b.farFromGoal, fmt.Sprintf(format, args...))
}

// report prints the table and writes it to bench/results.md.
func (b *bench) report() error {
	var out strings.Builder
	mode := "full"
	if b.quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	if b.failed {
		mode += ", ended by a failure (below): the measurements before it"
	}
	fmt.Fprintf(&out, "# go-webapp benchmark\n\n")
	fmt.Fprintf(&out, "- date: %s\n- mode: %s, %s in all\n", time.Now().UTC().Format(time.RFC3339), mode, round(time.Since(b.startedAt)))
	fmt.Fprintf(&out, "- machine: %d cores, %s memory, %s/%s\n", runtime.NumCPU(), memory(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&out, "- versions: %s\n", b.versions())
	fmt.Fprintf(&out, "- tutorial build: the single-stage build of the tutorial this template grew from (FROM golang, COPY . ., go build), "+
		"[e2e/cmd/bench/baselines/tutorial/Dockerfile](../e2e/cmd/bench/baselines/tutorial/Dockerfile)\n\n")
	for _, s := range b.sections {
		fmt.Fprintf(&out, "## %s\n\n| measure | value | note |\n|---|---|---|\n", s.title)
		for _, r := range s.rows {
			fmt.Fprintf(&out, "| %s | %s | %s |\n", r[0], r[1], r[2])
		}
		out.WriteString("\n")
	}
	if len(b.farFromGoal) > 0 {
		fmt.Fprintf(&out, "**Far from the goal:** %s\n", strings.Join(b.farFromGoal, "; "))
	}
	fmt.Print(out.String())
	if b.partial {
		return nil // bench/results.md holds whole runs only
	}
	dir := filepath.Join(harness.RepoRoot(), "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(out.String()), 0o644)
}

func (b *bench) versions() string {
	root := harness.RepoRoot()
	run := func(name string, args ...string) string {
		out, _ := harness.Run(b.ctx, root, nil, name, args...)
		return strings.TrimSpace(out)
	}
	find := func(file, pattern string) string {
		data, _ := os.ReadFile(filepath.Join(root, file))
		if m := regexp.MustCompile(pattern).FindSubmatch(data); m != nil {
			return string(m[1])
		}
		return "?"
	}
	return fmt.Sprintf("Go %s (host), Docker %s, compose %s, air %s, Echo %s",
		strings.TrimPrefix(run("go", "env", "GOVERSION"), "go"),
		run("docker", "version", "--format", "engine {{.Server.Version}}, CLI {{.Client.Version}}"),
		run("docker", "compose", "version", "--short"),
		find("docker/Dockerfile", `ARG AIR_VERSION=(\S+)`), find("go.mod", `github.com/labstack/echo/v4 (\S+)`))
}

func memory() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	var kb int64
	if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err != nil {
		return "?"
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

func stats(samples []time.Duration) string {
	sorted := slices.Sorted(slices.Values(samples))
	p95 := sorted[int(math.Ceil(0.95*float64(len(sorted))))-1]
	return fmt.Sprintf("median %s, p95 %s, max %s", round(median(sorted)), round(p95), round(sorted[len(sorted)-1]))
}

func median[T time.Duration | float64](samples []T) T {
	sorted := slices.Sorted(slices.Values(samples))
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func mb(n int64) string { return fmt.Sprintf("%.2f MB (%d B)", float64(n)/1e6, n) }
