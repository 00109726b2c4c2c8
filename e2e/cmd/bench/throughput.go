package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
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
// the runner, beside the bare net/http baseline serving the same body.
func (b *bench) throughput() {
	seconds := 10
	if b.quick {
		seconds = 3
	}
	body := b.greeting(b.repo) // what the runner built last serves
	bareImage := b.buildBare()
	measure := func(label, image string, flags ...string) float64 {
		b.Logf("throughput: %s, %d s", label, seconds)
		c := b.startRunner(image, flags)
		gen := load.Start(c.Addr, "/", 32, body)
		select {
		case <-time.After(time.Duration(seconds) * time.Second):
		case <-b.ctx.Done():
		}
		result := gen.Stop()
		harness.Docker(b, "rm", "-f", c.Name)
		return float64(len(result.OK)) / result.Elapsed.Seconds()
	}
	bareRate := measure("bare net/http", bareImage, "-e", "BODY="+body)
	ourRate := measure("this app", b.image+":latest")
	quietRate := measure("this app, LOG_LEVEL=warn", b.image+":latest", "-e", "LOG_LEVEL=warn")

	title := fmt.Sprintf("6. Throughput: GET /, 32 keep-alive clients on loopback, %d s each", seconds)
	b.add(title, "bare net/http hello world", fmt.Sprintf("%.0f req/s", bareRate), "same build, same base image")
	b.add(title, "this app (a JSON log line per request)", fmt.Sprintf("%.0f req/s", ourRate), fmt.Sprintf("%.2f× bare", ourRate/bareRate))
	b.add(title, "this app, LOG_LEVEL=warn", fmt.Sprintf("%.0f req/s", quietRate), fmt.Sprintf("%.2f× bare: middleware without the log write", quietRate/bareRate))
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
