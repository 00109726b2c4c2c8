// Command bench measures what people choose a template by, each figure side by
// side with what it is compared against, in one run on the local engine:
// reload time, image size, rebuild time, start time, stop under load and
// throughput. It prints a Markdown table on stdout, progress on stderr, and
// writes the table to bench/results.md. `make bench` runs it.
//
// BENCH_QUICK=1 takes fewer samples, for trying it out. The exit status is
// non-zero only when a figure is far from its goal, never on noise.
package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"e2e/harness"
	"e2e/load"
)

// Bounds far from the goals (README, issue targets), so that only a real
// regression fails the run, never a noisy machine.
const (
	maxReloadOverFloor = 3.0      // reload median / incremental host build
	maxRunnerAddsBytes = 10 << 20 // bytes the runner adds on top of alpine
)

type bench struct {
	ctx       context.Context
	quick     bool
	root      string            // the repository
	work      string            // scratch directory
	repo      string            // the copy the bench edits
	id        string            // suffix for every image, container and project name
	image     string            // what `make prod` builds here
	project   string            // compose project of the dev service
	greetings map[string]string // repository copy -> the greeting its app/handlers.go holds
	edits     int
	sections  []section
	failures  []string
	cleanups  []func()
	imageIDs  map[string]bool // every image the bench built, rebuilt tags' old ones too
	startedAt time.Time
}

type section struct {
	title string
	rows  [][3]string // measure, value, note
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{ctx: ctx, quick: os.Getenv("BENCH_QUICK") == "1", root: harness.RepoRoot(), startedAt: time.Now()}
	b.edits = 20
	if b.quick {
		b.edits = 5
	}
	err := b.run()
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	if len(b.failures) > 0 {
		fmt.Fprintf(os.Stderr, "bench: far from the goal:\n  %s\n", strings.Join(b.failures, "\n  "))
		os.Exit(1)
	}
}

func (b *bench) run() error {
	var err error
	if b.work, err = os.MkdirTemp("", "go-webapp-bench-"); err != nil {
		return err
	}
	b.cleanup(func() { os.RemoveAll(b.work) })
	b.id = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	b.image = "go-webapp-bench-" + b.id
	b.project = "go-webapp-bench-" + b.id
	b.repo = filepath.Join(b.work, "repo")
	if err := harness.CopyRepo(b.root, b.repo); err != nil {
		return err
	}
	b.greetings = map[string]string{}
	b.imageIDs = map[string]bool{}
	b.cleanup(func() {
		for id := range b.imageIDs {
			_, _ = b.docker("image", "rm", "-f", id)
		}
	})

	for _, step := range []func() error{b.reload, b.sizes, b.rebuild, b.start, b.stopUnderLoad, b.throughput} {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	return b.report()
}

func (b *bench) cleanup(f func()) { b.cleanups = append(b.cleanups, f) }

// built records the images refs name now, to remove them at the end.
func (b *bench) built(refs ...string) {
	for _, ref := range refs {
		if id, err := b.docker("image", "inspect", "--format", "{{.Id}}", ref); err == nil {
			b.imageIDs[id] = true
		}
	}
}

// makeProd runs `make prod` on the copy, with extra make arguments.
func (b *bench) makeProd(target string, extra ...string) error {
	args := append([]string{target, "IMAGE=" + b.image, "VERSION=bench"}, extra...)
	_, err := b.cmd(b.repo, nil, "make", args...)
	if target == "prod-scratch" {
		b.built(b.image + ":scratch")
	} else {
		b.built(b.image + ":latest")
	}
	return err
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.0fs] %s\n", time.Since(b.startedAt).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) add(title, measure, value, note string) {
	if len(b.sections) == 0 || b.sections[len(b.sections)-1].title != title {
		b.sections = append(b.sections, section{title: title})
	}
	s := &b.sections[len(b.sections)-1]
	s.rows = append(s.rows, [3]string{measure, value, note})
}

func (b *bench) fail(format string, args ...any) {
	b.failures = append(b.failures, fmt.Sprintf(format, args...))
}

func (b *bench) cmd(dir string, env []string, name string, args ...string) (string, error) {
	out, err := harness.Run(dir, env, name, args...)
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, lastLines(out, 20))
	}
	return out, nil
}

func (b *bench) docker(args ...string) (string, error) {
	out, err := b.cmd(b.repo, nil, "docker", args...)
	return strings.TrimSpace(out), err
}

// edit changes the greeting in the copy's app/handlers.go to a new text and
// returns it.
func (b *bench) edit(repo string) (string, error) {
	next := fmt.Sprintf("Hello, bench %d!", time.Now().UnixNano())
	file := filepath.Join(repo, "app", "handlers.go")
	src, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	old := strconv.Quote(b.greeting(repo))
	if !bytes.Contains(src, []byte(old)) {
		return "", fmt.Errorf("%s does not contain %s", file, old)
	}
	if err := os.WriteFile(file, bytes.Replace(src, []byte(old), []byte(strconv.Quote(next)), 1), 0o644); err != nil {
		return "", err
	}
	b.greetings[repo] = next
	return next, nil
}

// greeting is the text GET / answers with the code in repo, a copy of the
// repository that starts with the original greeting.
func (b *bench) greeting(repo string) string {
	if g, ok := b.greetings[repo]; ok {
		return g
	}
	return "Hello, World!"
}

// copyRepo copies the bench's copy to a new directory, greeting and all.
func (b *bench) copyRepo(name string) (string, error) {
	dst := filepath.Join(b.work, name)
	if err := harness.CopyRepo(b.repo, dst); err != nil {
		return "", err
	}
	b.greetings[dst] = b.greeting(b.repo)
	return dst, nil
}

// waitBody polls url until it answers want; it returns the time that took.
func (b *bench) waitBody(url, want string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		if _, body, err := harness.Get(url); err == nil && body == want {
			return time.Since(start), nil
		}
		if err := b.ctx.Err(); err != nil {
			return 0, err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("GET %s did not answer %q within %s", url, want, limit)
}

// reloadSeries waits for a freshly started dev server at url, warms it up
// with two edits, then returns the reload time of b.edits more.
func (b *bench) reloadSeries(repo, url string) ([]time.Duration, error) {
	if _, err := b.waitBody(url, b.greeting(repo), 5*time.Minute); err != nil {
		return nil, err
	}
	if _, err := b.measureReloads(repo, url, 2); err != nil {
		return nil, err
	}
	return b.measureReloads(repo, url, b.edits)
}

// measureReloads edits the copy n times and returns, for each edit, the time
// from the save to the first response carrying it.
func (b *bench) measureReloads(repo, url string, n int) ([]time.Duration, error) {
	var samples []time.Duration
	for range n {
		text, err := b.edit(repo)
		if err != nil {
			return nil, err
		}
		d, err := b.waitBody(url, text, time.Minute)
		if err != nil {
			return nil, err
		}
		samples = append(samples, d)
		time.Sleep(300 * time.Millisecond) // let the new server settle
	}
	return samples, nil
}

func (b *bench) reload() error {
	// (a) this project's dev container.
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	env := []string{"HOST_PORT=" + strconv.Itoa(port), "COMPOSE_PROJECT_NAME=" + b.project}
	compose := func(args ...string) error {
		_, err := b.cmd(b.repo, env, "docker", append([]string{"compose"}, args...)...)
		return err
	}
	b.cleanup(func() { _ = compose("down", "-v", "--rmi", "local") })
	b.progress("reload (a): building and starting the dev container")
	if err := compose("up", "-d", "--build"); err != nil {
		return err
	}
	b.progress("reload (a): %d edits", b.edits)
	ours, err := b.reloadSeries(b.repo, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return err
	}

	// (b) the same image with air's default configuration, the way most
	// people run it: the whole project mounted, as root, building into tmp/.
	b.progress("reload (b): the same image with air's defaults, %d edits", b.edits)
	plain, err := b.copyRepo("plain-air")
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(plain, ".air.toml")); err != nil {
		return err
	}
	plainPort, err := harness.FreePort()
	if err != nil {
		return err
	}
	name := "go-webapp-bench-air-" + b.id
	if _, err := b.docker("run", "-d", "--name", name, "--user", "0", "-p", fmt.Sprintf("127.0.0.1:%d:1323", plainPort),
		"-v", plain+":/work", "-w", "/work", "-e", "LOG_FORMAT=text", "--entrypoint", "air",
		b.project+"-dev", "-build.cmd", "go build -o ./tmp/main ./app"); err != nil {
		return err
	}
	b.cleanup(func() {
		// tmp/ is root's: remove it from inside before the directory goes.
		_, _ = b.docker("exec", name, "rm", "-rf", "/work/tmp")
		_, _ = b.docker("rm", "-f", name)
	})
	defaults, err := b.reloadSeries(plain, fmt.Sprintf("http://127.0.0.1:%d/", plainPort))
	if err != nil {
		return err
	}

	// (c) the floor: an incremental go build on the host after the same edit.
	b.progress("reload (c): incremental go build ./app on the host, %d edits", b.edits)
	floorRepo, err := b.copyRepo("floor")
	if err != nil {
		return err
	}
	build := func() (time.Duration, error) {
		start := time.Now()
		_, err := b.cmd(floorRepo, nil, "go", "build", "-o", filepath.Join(b.work, "floor-app"), "./app")
		return time.Since(start), err
	}
	if _, err := build(); err != nil { // warm the host's build cache
		return err
	}
	var floor []time.Duration
	for range b.edits {
		if _, err := b.edit(floorRepo); err != nil {
			return err
		}
		d, err := build()
		if err != nil {
			return err
		}
		floor = append(floor, d)
	}

	title := fmt.Sprintf("1. Reload: save → new response, %d edits", b.edits)
	b.add(title, "(a) this dev container", stats(ours), "air + docker/dev-run, .air.toml")
	b.add(title, "(b) same image, air defaults", stats(defaults), "whole project mounted, root, delay 1000 ms")
	b.add(title, "(c) floor: incremental `go build ./app` on the host", stats(floor), "")
	ac, ab := ratio(median(ours), median(floor)), ratio(median(ours), median(defaults))
	b.add(title, "a/c (median)", fmt.Sprintf("%.2f", ac), "goal ≤ 1.3")
	b.add(title, "a/b (median)", fmt.Sprintf("%.2f", ab), "lower is better")
	if ac > maxReloadOverFloor {
		b.fail("reload median %s is %.1f× the build floor %s (bound %.0f×)", round(median(ours)), ac, round(median(floor)), maxReloadOverFloor)
	}
	return nil
}

func (b *bench) sizes() error {
	b.progress("sizes: make prod, make prod-scratch, and the tutorial's single-stage build")
	for _, target := range []string{"prod", "prod-scratch"} {
		if err := b.makeProd(target); err != nil {
			return err
		}
	}
	binary, err := b.fileSize(b.image+":latest", "/usr/local/bin/app")
	if err != nil {
		return err
	}
	added, err := b.addedBytes(b.image+":latest", "alpine:"+b.makeVar("ALPINE_VERSION"))
	if err != nil {
		return err
	}
	scratch, err := b.imageSize(b.image + ":scratch")
	if err != nil {
		return err
	}
	seedImage := b.image + "-seed"
	if err := b.buildSeed(seedImage); err != nil {
		return err
	}
	seedBinary, err := b.fileSize(seedImage, "/server")
	if err != nil {
		return err
	}
	seedTotal, err := b.imageSize(seedImage)
	if err != nil {
		return err
	}
	title := "2. Image size"
	b.add(title, "binary", mb(binary), "goal ≤ 7.0 MB")
	b.add(title, "runner: bytes added on top of alpine (docker history)", mb(added), fmt.Sprintf("the binary + %s (CA bundle); goal ≤ 7.5 MB", mb(added-binary)))
	b.add(title, "runner-scratch: whole image", mb(scratch), fmt.Sprintf("goal ≤ binary + 0.5 MB = %s", mb(binary+500_000)))
	b.add(title, "tutorial's way: binary (no -s -w, no -trimpath)", mb(seedBinary), fmt.Sprintf("%.2f× ours", float64(seedBinary)/float64(binary)))
	b.add(title, "tutorial's way: whole image (FROM golang, COPY . .)", mb(seedTotal), fmt.Sprintf("%.0f× our runner-scratch", float64(seedTotal)/float64(scratch)))
	if added > maxRunnerAddsBytes {
		b.fail("the runner adds %s on top of alpine (bound %s)", mb(added), mb(maxRunnerAddsBytes))
	}
	return nil
}

// seedDockerfile is the single-stage build of the seed tutorial: copy
// everything, go build, no cache mounts, no flags.
const seedDockerfile = `ARG GO_VERSION
FROM golang:${GO_VERSION}-alpine
WORKDIR /src
COPY . .
RUN go build -o /server ./app
CMD ["/server"]
`

func (b *bench) buildSeed(tag string) error {
	file := filepath.Join(b.work, "Dockerfile.seed")
	if err := os.WriteFile(file, []byte(seedDockerfile), 0o644); err != nil {
		return err
	}
	_, err := b.cmd(b.repo, nil, "docker", "buildx", "build", "--load", "-f", file, "-t", tag,
		"--build-arg", "GO_VERSION="+b.makeVar("GO_VERSION"), ".")
	b.built(tag)
	return err
}

// makeVar reads a variable of the Makefile, which names the base images.
func (b *bench) makeVar(name string) string {
	out, _ := harness.Run(b.root, nil, "make", "-s", "print-"+name)
	return strings.TrimSpace(out)
}

// fileSize reads the size of path inside image from `docker cp`'s tar stream.
func (b *bench) fileSize(image, path string) (int64, error) {
	id, err := b.docker("create", image)
	if err != nil {
		return 0, err
	}
	defer func() { _, _ = b.docker("rm", "-f", id) }()
	out, err := b.cmd(b.repo, nil, "sh", "-c", fmt.Sprintf("docker cp %s:%s - | tar -tvf - | awk '{print $3}'", id, path))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
}

func (b *bench) imageSize(image string) (int64, error) {
	out, err := b.docker("image", "inspect", "--format", "{{.Size}}", image)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(out, 10, 64)
}

// addedBytes sums the layers of image above those of base, from docker
// history: what the image adds to its base.
func (b *bench) addedBytes(image, base string) (int64, error) {
	layers := func(ref string) ([]int64, error) {
		out, err := b.docker("history", "--human=false", "--format", "{{.Size}}", ref)
		if err != nil {
			return nil, err
		}
		var sizes []int64
		for _, f := range strings.Fields(out) {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, err
			}
			sizes = append(sizes, n)
		}
		return sizes, nil
	}
	all, err := layers(image)
	if err != nil {
		return 0, err
	}
	baseLayers, err := layers(base)
	if err != nil {
		return 0, err
	}
	var added int64
	for _, n := range all[:len(all)-len(baseLayers)] { // newest first
		added += n
	}
	return added, nil
}

func (b *bench) rebuild() error {
	seedImage := b.image + "-seed"
	b.progress("rebuild: one-line change, make prod vs the tutorial's Dockerfile, both warm")
	timeIt := func(f func() error) (time.Duration, error) {
		start := time.Now()
		err := f()
		return time.Since(start), err
	}
	if _, err := b.edit(b.repo); err != nil {
		return err
	}
	ours, err := timeIt(func() error {
		return b.makeProd("prod")
	})
	if err != nil {
		return err
	}
	seed, err := timeIt(func() error { return b.buildSeed(seedImage) })
	if err != nil {
		return err
	}
	b.progress("rebuild: cold make prod (no layer cache, cache mounts pruned)")
	if _, err := b.docker("builder", "prune", "-f", "--filter", "type=exec.cachemount"); err != nil {
		return err
	}
	cold, err := timeIt(func() error {
		return b.makeProd("prod", "BUILDFLAGS=--no-cache")
	})
	if err != nil {
		return err
	}
	title := "3. Rebuild after a one-line change in app/ (warm)"
	b.add(title, "make prod", round(ours).String(), "cache mounts: one package recompiles")
	b.add(title, "tutorial's Dockerfile", round(seed).String(), "COPY . . then go build: modules and every package again")
	b.add(title, "tutorial / ours", fmt.Sprintf("%.1f×", ratio(seed, ours)), "")
	b.add(title, "cold make prod", round(cold).String(), "--no-cache, BuildKit cache mounts pruned; base images present")
	return nil
}

func (b *bench) start() error {
	b.progress("start: warm docker compose up, and the runner container")
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	env := []string{"HOST_PORT=" + strconv.Itoa(port), "COMPOSE_PROJECT_NAME=" + b.project}
	if _, err := b.cmd(b.repo, env, "docker", "compose", "down"); err != nil {
		return err
	}
	start := time.Now()
	if _, err := b.cmd(b.repo, env, "docker", "compose", "up", "-d"); err != nil {
		return err
	}
	if _, err := b.waitBody(fmt.Sprintf("http://127.0.0.1:%d/", port), b.greeting(b.repo), 2*time.Minute); err != nil {
		return err
	}
	devStart := time.Since(start)
	if _, err := b.cmd(b.repo, env, "docker", "compose", "down"); err != nil {
		return err
	}

	name, _, took, err := b.runRunner(b.image+":latest", b.greeting(b.repo))
	if err != nil {
		return err
	}
	_, _ = b.docker("rm", "-f", name)
	title := "4. Start → first 200"
	b.add(title, "warm `docker compose up` (dev)", round(devStart).String(), "image built, cache volumes warm")
	b.add(title, "runner container (`docker run -d`)", round(took).String(), "")
	return nil
}

// runRunner starts image on a free loopback port and waits until it answers
// want; it returns the container's name, its address and how long that took.
func (b *bench) runRunner(image, want string, extra ...string) (name, addr string, took time.Duration, err error) {
	port, err := harness.FreePort()
	if err != nil {
		return "", "", 0, err
	}
	name = fmt.Sprintf("go-webapp-bench-%s-%d", b.id, port)
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	start := time.Now()
	args := append([]string{"run", "-d", "--name", name, "-p", addr + ":1323"}, extra...)
	if _, err := b.docker(append(args, image)...); err != nil {
		return "", "", 0, err
	}
	b.cleanup(func() { _, _ = b.docker("rm", "-f", name) })
	if _, err := b.waitBody("http://"+addr+"/", want, time.Minute); err != nil {
		return "", "", 0, err
	}
	return name, addr, time.Since(start), nil
}

func (b *bench) stopUnderLoad() error {
	b.progress("stop under load: docker stop while 32 clients keep requests in flight")
	name, addr, _, err := b.runRunner(b.image+":latest", b.greeting(b.repo))
	if err != nil {
		return err
	}
	gen := load.Start(addr, "/", 32, b.greeting(b.repo))
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := gen.WaitOK(ctx, 2000); err != nil {
		gen.Stop()
		return err
	}
	start := time.Now()
	if _, err := b.docker("stop", name); err != nil {
		return err
	}
	took := time.Since(start)
	result := gen.Stop()
	code, err := b.docker("inspect", "--format", "{{.State.ExitCode}}", name)
	if err != nil {
		return err
	}
	logs, err := b.docker("logs", name)
	if err != nil {
		return err
	}
	logged := load.LoggedIDs(logs)
	lost := result.Lost(logged)
	refused := 0
	for _, n := range result.Failed {
		refused += n
	}
	title := "5. Stop under load (runner, 32 clients on loopback)"
	b.add(title, "docker stop took", round(took).String(), "grace period 10 s")
	b.add(title, "exit code", code, "0: drained, not SIGKILLed")
	b.add(title, "requests the server accepted / answered in full", fmt.Sprintf("%d / %d", len(logged), len(logged)-len(lost)), "")
	b.add(title, "accepted requests that failed", strconv.Itoa(len(lost)), "goal 0")
	b.add(title, "requests refused after the listener closed", strconv.Itoa(refused), "never reached the server")
	if len(lost) > 0 || code != "0" {
		b.fail("docker stop under load lost %d accepted requests, exit code %s", len(lost), code)
	}
	return nil
}

// bareApp is the baseline for throughput: net/http's hello world, answering
// the same body as the app under test, built and packaged the way
// docker/Dockerfile builds the service.
const bareApp = `package main

import "net/http"

func main() {
	http.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.Write([]byte(%q))
	})
	http.ListenAndServe(":1323", nil)
}
`

const bareDockerfile = `ARG GO_VERSION
ARG ALPINE_VERSION
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" -o /out/app .
FROM alpine:${ALPINE_VERSION}
COPY --from=builder /out/app /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
`

func (b *bench) throughput() error {
	seconds := 10
	if b.quick {
		seconds = 3
	}
	bare := filepath.Join(b.work, "bare")
	if err := os.MkdirAll(bare, 0o755); err != nil {
		return err
	}
	body := b.greeting(b.repo) // what the runner built last serves
	for name, content := range map[string]string{
		"go.mod":     "module bare\n\ngo 1.26.0\n",
		"main.go":    fmt.Sprintf(bareApp, body),
		"Dockerfile": bareDockerfile,
	} {
		if err := os.WriteFile(filepath.Join(bare, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	bareImage := b.image + "-bare"
	b.progress("throughput: building the bare net/http baseline")
	if _, err := b.cmd(bare, nil, "docker", "buildx", "build", "--load", "-t", bareImage,
		"--build-arg", "GO_VERSION="+b.makeVar("GO_VERSION"), "--build-arg", "ALPINE_VERSION="+b.makeVar("ALPINE_VERSION"), "."); err != nil {
		return err
	}
	b.built(bareImage)

	measure := func(label, image string, extra ...string) (float64, error) {
		b.progress("throughput: %s, %d s", label, seconds)
		name, addr, _, err := b.runRunner(image, body, extra...)
		if err != nil {
			return 0, err
		}
		defer func() { _, _ = b.docker("rm", "-f", name) }()
		gen := load.Start(addr, "/", 32, body)
		select {
		case <-time.After(time.Duration(seconds) * time.Second):
		case <-b.ctx.Done():
		}
		result := gen.Stop()
		return float64(len(result.OK)) / result.Elapsed.Seconds(), nil
	}
	bareRate, err := measure("bare net/http", bareImage)
	if err != nil {
		return err
	}
	ourRate, err := measure("this app", b.image+":latest")
	if err != nil {
		return err
	}
	quietRate, err := measure("this app, LOG_LEVEL=warn", b.image+":latest", "-e", "LOG_LEVEL=warn")
	if err != nil {
		return err
	}
	title := fmt.Sprintf("6. Throughput: GET /, 32 keep-alive clients on loopback, %d s each", seconds)
	b.add(title, "bare net/http hello world", fmt.Sprintf("%.0f req/s", bareRate), "same build, same base image")
	b.add(title, "this app (a JSON log line per request)", fmt.Sprintf("%.0f req/s", ourRate), fmt.Sprintf("%.2f× bare", ourRate/bareRate))
	b.add(title, "this app, LOG_LEVEL=warn", fmt.Sprintf("%.0f req/s", quietRate), fmt.Sprintf("%.2f× bare: middleware without the log write", quietRate/bareRate))
	return nil
}

func (b *bench) report() error {
	var out strings.Builder
	mode := "full"
	if b.quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	fmt.Fprintf(&out, "# go-webapp benchmark\n\n")
	fmt.Fprintf(&out, "- date: %s\n- mode: %s, %s in all\n", time.Now().UTC().Format(time.RFC3339), mode, round(time.Since(b.startedAt)))
	fmt.Fprintf(&out, "- machine: %d cores, %s memory, %s/%s\n", runtime.NumCPU(), memory(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&out, "- versions: %s\n\n", b.versions())
	for _, s := range b.sections {
		fmt.Fprintf(&out, "## %s\n\n| measure | value | note |\n|---|---|---|\n", s.title)
		for _, r := range s.rows {
			fmt.Fprintf(&out, "| %s | %s | %s |\n", r[0], r[1], r[2])
		}
		out.WriteString("\n")
	}
	if len(b.failures) > 0 {
		fmt.Fprintf(&out, "**Far from the goal:** %s\n", strings.Join(b.failures, "; "))
	}
	fmt.Print(out.String())
	if err := os.MkdirAll(filepath.Join(b.root, "bench"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.root, "bench", "results.md"), []byte(out.String()), 0o644)
}

func (b *bench) versions() string {
	goVersion, _ := harness.Run(b.root, nil, "go", "env", "GOVERSION")
	dockerVersion, _ := harness.Run(b.root, nil, "docker", "version", "--format", "engine {{.Server.Version}}, CLI {{.Client.Version}}")
	compose, _ := harness.Run(b.root, nil, "docker", "compose", "version", "--short")
	find := func(file, pattern string) string {
		data, _ := os.ReadFile(filepath.Join(b.root, file))
		if m := regexp.MustCompile(pattern).FindSubmatch(data); m != nil {
			return string(m[1])
		}
		return "?"
	}
	return fmt.Sprintf("Go %s (host), Docker %s, compose %s, air %s, Echo %s",
		strings.TrimPrefix(strings.TrimSpace(goVersion), "go"), strings.TrimSpace(dockerVersion), strings.TrimSpace(compose),
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
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	p95 := sorted[int(math.Ceil(0.95*float64(len(sorted))))-1]
	return fmt.Sprintf("median %s, p95 %s, max %s", round(median(sorted)), round(p95), round(sorted[len(sorted)-1]))
}

func median(samples []time.Duration) time.Duration {
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func mb(n int64) string { return fmt.Sprintf("%.2f MB (%d B)", float64(n)/1e6, n) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
