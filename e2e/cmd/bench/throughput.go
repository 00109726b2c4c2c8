package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
// the runner's marker route, beside the bare net/http baseline serving the
// same body: both a handler that writes a constant string, as the sample's
// GET / does, whatever a project's own GET / has become. The
// servers run side by side and take turns under load, several rounds, each
// round in another order, so that a noisy moment of the machine does not land
// on one of them only; each figure is the median of its rounds. A second bare
// container shows how far two identical servers land apart in the same run:
// the noise any other ratio carries.
//
// On a Linux host, where the engine's processes are visible in /proc, it also
// counts the CPU each server's process and dockerd spend per request: where
// a log line's cost lands, in the app and in Docker's log driver. Last, the
// app's BenchmarkHandler: one request in a loop inside the process, with hot
// caches, at info and at warn.
func (b *bench) throughput() {
	rounds, seconds := 7, 3
	if b.quick {
		rounds, seconds = 1, 3
	}
	body := b.marker(b.repo) // what the runner built last serves
	bare := b.buildBare()
	servers := []*loadedServer{
		{label: "bare net/http", c: b.startRunner(bare, []string{"-e", "BODY=" + body})},
		{label: "this app", c: b.startRunner(b.prodImage(), nil)},
		{label: "this app, LOG_LEVEL=warn", c: b.startRunner(b.prodImage(), []string{"-e", "LOG_LEVEL=warn"})},
		// The same lines, written by the app but discarded by Docker: what
		// logging costs inside the process, without the log driver's work.
		{label: "this app, --log-driver none", c: b.startRunner(b.prodImage(), []string{"--log-driver", "none"})},
		{label: "bare net/http again", c: b.startRunner(bare, []string{"-e", "BODY=" + body})},
		// The prod profile's bounded log, and Docker's other bounded driver.
		{label: "this app, json-file with max-size", c: b.startRunner(b.prodImage(), strings.Fields(harness.MakeVariable(b, "LOG_OPTS")))},
		{label: "this app, --log-driver local", c: b.startRunner(b.prodImage(), []string{"--log-driver", "local"})},
		// What a developer would write instead: a line per request, unbuffered.
		{label: "net/http + slog to stdout", c: b.startRunner(bare, []string{"-e", "BODY=" + body, "-e", "LOG_REQUESTS=1"})},
	}
	dockerd := processesNamed("dockerd")
	for round := range rounds {
		for i := range servers {
			s := servers[(i+round)%len(servers)]
			b.Logf("throughput: round %d of %d, %s, %d s", round+1, rounds, s.label, seconds)
			s.run(b, body, time.Duration(seconds)*time.Second, dockerd)
		}
	}
	base, ours, quiet, undriven, again := servers[0], servers[1], servers[2], servers[3], servers[4]
	bounded, local, naive := servers[5], servers[6], servers[7]
	ratio := func(s *loadedServer) float64 { return s.rate() / base.rate() }

	title := fmt.Sprintf("6. Throughput: GET %s, 32 keep-alive clients on loopback, median of %d rounds of %d s", harness.MarkerPath, rounds, seconds)
	b.add(title, "bare net/http hello world", fmt.Sprintf("%.0f req/s", base.rate()), "same build, same base image")
	b.add(title, "this app (a JSON log line per request)", fmt.Sprintf("%.0f req/s", ours.rate()), fmt.Sprintf("%.2f× bare; goal ≥ 0.9", ratio(ours)))
	b.add(title, "this app, LOG_LEVEL=warn", fmt.Sprintf("%.0f req/s", quiet.rate()), fmt.Sprintf("%.2f× bare: no log line at all", ratio(quiet)))
	b.add(title, "this app, `--log-driver none`", fmt.Sprintf("%.0f req/s", undriven.rate()), fmt.Sprintf("%.2f× bare: every line written, Docker discards them", ratio(undriven)))
	b.add(title, "bare net/http again, a second container", fmt.Sprintf("%.0f req/s", again.rate()), fmt.Sprintf("%.2f× bare: the noise between two identical servers", ratio(again)))
	b.add(title, "this app, json-file with max-size and max-file", fmt.Sprintf("%.0f req/s", bounded.rate()),
		fmt.Sprintf("%.2f× bare: the prod profile's bounded log (LOG_OPTS in the Makefile)", ratio(bounded)))
	b.add(title, "this app, `--log-driver local`", fmt.Sprintf("%.0f req/s", local.rate()), fmt.Sprintf("%.2f× bare: Docker's other bounded driver", ratio(local)))
	b.add(title, "net/http + slog, a JSON line per request straight to stdout", fmt.Sprintf("%.0f req/s", naive.rate()),
		fmt.Sprintf("%.2f× bare: what one would write instead, one write(2) per line", ratio(naive)))
	if slices.ContainsFunc(servers, func(s *loadedServer) bool { return s.cpuMissed }) {
		b.add(title, "CPU per request under load", "n/a", "needs the engine's processes in this host's /proc")
	} else {
		b.addCPURows(title, base, ours, quiet)
		b.add(title, "CPU per request in dockerd: net/http + slog to stdout", microseconds(naive.perRequest(naive.dockerdCPU)),
			fmt.Sprintf("against %s for this app: its buffered writer hands the log driver fewer, larger writes", microseconds(ours.perRequest(ours.dockerdCPU))))
	}
	handler := b.handlerCost()
	b.add(title, "one GET / in a loop, whole handler: LOG_LEVEL=info", microseconds(handler["info"]),
		fmt.Sprintf("`go test -bench Handler ./app`, hot caches; the log line: %s of it", microseconds(handler["info"]-handler["warn"])))
	b.add(title, "… LOG_LEVEL=warn", microseconds(handler["warn"]), "echo and the middleware")
}

// addCPURows adds what the server processes and dockerd spent per request,
// over every round.
func (b *bench) addCPURows(title string, base, ours, quiet *loadedServer) {
	serverCPU := func(s *loadedServer) time.Duration { return s.perRequest(s.serverCPU) }
	b.add(title, "CPU per request in the server's process: bare", microseconds(serverCPU(base)), "from /proc, over every round")
	b.add(title, "… this app", microseconds(serverCPU(ours)), fmt.Sprintf("%.2f× bare's", ratio(serverCPU(ours), serverCPU(base))))
	b.add(title, "… this app, LOG_LEVEL=warn", microseconds(serverCPU(quiet)), fmt.Sprintf("%.2f× bare's: echo, middleware, limits, no log line", ratio(serverCPU(quiet), serverCPU(base))))
	b.add(title, "dockerd's CPU per request: this app", microseconds(ours.perRequest(ours.dockerdCPU)), "the json-file driver: a JSON entry and a write per line")
	b.add(title, "… bare net/http", microseconds(base.perRequest(base.dockerdCPU)), "no log line")
}

// loadedServer is one server of the throughput rows and what its rounds
// measured.
type loadedServer struct {
	label      string
	c          *harness.Container
	rates      []float64     // requests per second, one per round
	requests   int           // answered, over every round
	serverCPU  time.Duration // the server's process, over every round
	dockerdCPU time.Duration // dockerd's, over every round
	cpuMissed  bool          // a process was not visible in /proc
}

// run puts the server under load for one round, counting the CPU its process
// and dockerd (pids) spend meanwhile.
func (s *loadedServer) run(b *bench, body string, d time.Duration, dockerd []int) {
	pid, _ := strconv.Atoi(s.c.Inspect("{{.State.Pid}}"))
	serverBefore, serverOK := cpuTime(pid)
	dockerdBefore, dockerdOK := cpuTime(dockerd...)
	gen := load.Start(s.c.Addr, harness.MarkerPath, 32, body)
	select {
	case <-time.After(d):
	case <-b.ctx.Done():
	}
	result := gen.Stop()
	serverAfter, _ := cpuTime(pid)
	dockerdAfter, _ := cpuTime(dockerd...)
	s.rates = append(s.rates, float64(len(result.OK))/result.Elapsed.Seconds())
	s.requests += len(result.OK)
	s.serverCPU += serverAfter - serverBefore
	s.dockerdCPU += dockerdAfter - dockerdBefore
	s.cpuMissed = s.cpuMissed || !serverOK || !dockerdOK
}

func (s *loadedServer) rate() float64 { return median(s.rates) }

// perRequest spreads CPU time over the requests answered.
func (s *loadedServer) perRequest(cpu time.Duration) time.Duration {
	return cpu / time.Duration(max(s.requests, 1))
}

func microseconds(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

// clockTick is the unit of /proc's CPU times: USER_HZ, 100 on every Linux
// architecture Docker runs on.
const clockTick = 10 * time.Millisecond

// cpuTime sums the user and system CPU time of processes (every thread of
// each) from /proc; false when one of them cannot be read, as on a machine
// whose engine runs in a VM (Docker Desktop).
func cpuTime(pids ...int) (time.Duration, bool) {
	var total time.Duration
	for _, pid := range pids {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return 0, false
		}
		// The fields after the command name, which is in parentheses and may
		// hold spaces: state is the 1st, utime the 12th, stime the 13th.
		_, after, ok := strings.Cut(string(stat), ") ")
		fields := strings.Fields(after)
		if !ok || len(fields) < 13 {
			return 0, false
		}
		utime, err1 := strconv.ParseInt(fields[11], 10, 64)
		stime, err2 := strconv.ParseInt(fields[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		total += time.Duration(utime+stime) * clockTick
	}
	return total, len(pids) > 0
}

// processesNamed lists the pids whose command name is name.
func processesNamed(name string) []int {
	var pids []int
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, comm := range comms {
		got, err := os.ReadFile(comm)
		if err == nil && strings.TrimSpace(string(got)) == name {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(comm)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// handlerCost runs the app's BenchmarkHandler and returns the median time of
// a request by log level ("info", "warn").
func (b *bench) handlerCost() map[string]time.Duration {
	b.Logf("throughput: go test -bench Handler ./app")
	out := harness.Command(b, b.repo, nil, "go", "test", "-run", "^$", "-bench", "^BenchmarkHandler$", "-count", "5", "./app")
	samples := map[string][]time.Duration{}
	for _, line := range strings.Split(out, "\n") {
		// BenchmarkHandler/LOG_LEVEL=info-2   690924   1721 ns/op
		fields := strings.Fields(line)
		if len(fields) < 4 || fields[3] != "ns/op" {
			continue
		}
		name, ok := strings.CutPrefix(fields[0], "BenchmarkHandler/LOG_LEVEL=")
		if !ok {
			continue
		}
		level, _, _ := strings.Cut(name, "-")
		ns, err := strconv.ParseFloat(fields[2], 64)
		if err != nil {
			b.Fatalf("BenchmarkHandler: %q: %v", line, err)
		}
		samples[level] = append(samples[level], time.Duration(ns))
	}
	medians := map[string]time.Duration{}
	for _, level := range []string{"info", "warn"} {
		if len(samples[level]) == 0 {
			b.Fatalf("BenchmarkHandler printed no LOG_LEVEL=%s result:\n%s", level, out)
		}
		medians[level] = median(samples[level])
	}
	return medians
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
