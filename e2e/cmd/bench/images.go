package main

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"e2e/harness"
)

// tutorialDockerfile defines the tutorial build, the baseline of the size
// and rebuild rows.
//
//go:embed baselines/tutorial/Dockerfile
var tutorialDockerfile string

// sizes measures the binary and what each image adds to its base, beside
// the tutorial build.
func (b *bench) sizes() {
	b.Logf("sizes: make prod, make prod-scratch, and the tutorial build")
	b.makeProd("prod")
	b.makeProd("prod-scratch")
	binary := b.fileSize(b.image+":latest", "/usr/local/bin/app")
	added := b.addedBytes(b.image+":latest", "alpine:"+harness.MakeVariable(b, "ALPINE_VERSION"))
	scratch := b.imageSize(b.image + ":scratch")
	tutorial := b.buildTutorial()
	tutorialBinary := b.fileSize(tutorial, "/server")
	tutorialTotal := b.imageSize(tutorial)

	title := "2. Image size"
	b.add(title, "binary", mb(binary), "goal ≤ 7.0 MB")
	b.add(title, "runner: bytes added on top of alpine (docker history)", mb(added), fmt.Sprintf("the binary + %s (CA bundle); goal ≤ 7.5 MB", mb(added-binary)))
	b.add(title, "runner-scratch: whole image", mb(scratch), fmt.Sprintf("goal ≤ binary + 0.5 MB = %s", mb(binary+500_000)))
	b.add(title, "tutorial build: binary (no -s -w, no -trimpath)", mb(tutorialBinary), fmt.Sprintf("%.2f× ours", float64(tutorialBinary)/float64(binary)))
	b.add(title, "tutorial build: whole image", mb(tutorialTotal), fmt.Sprintf("%.0f× our runner-scratch", float64(tutorialTotal)/float64(scratch)))
	if added > maxRunnerAddsBytes {
		b.far("the runner adds %s on top of alpine (bound %s)", mb(added), mb(maxRunnerAddsBytes))
	}
}

// buildTutorial builds the bench's copy the tutorial's way and returns the
// image's name.
func (b *bench) buildTutorial() string {
	tag := b.image + "-tutorial"
	file := filepath.Join(b.work, "tutorial.Dockerfile")
	harness.WriteFile(b, file, tutorialDockerfile)
	defer b.built(tag)
	harness.Command(b, b.repo, nil, "docker", "buildx", "build", "--load", "-f", file, "-t", tag,
		"--build-arg", "GO_VERSION="+harness.MakeVariable(b, "GO_VERSION"), ".")
	return tag
}

// fileSize reads the size of path inside image from `docker cp`'s tar stream.
func (b *bench) fileSize(image, path string) int64 {
	id := harness.Docker(b, "create", image)
	defer harness.Docker(b, "rm", "-f", id)
	out := harness.Command(b, "", nil, "sh", "-c", fmt.Sprintf("docker cp %s:%s - | tar -tvf - | awk '{print $3}'", id, path))
	return b.parseInt(out)
}

func (b *bench) imageSize(image string) int64 {
	return b.parseInt(harness.Inspect(b, image, "{{.Size}}"))
}

// addedBytes sums the layers of image above those of base, from docker
// history: what the image adds to its base.
func (b *bench) addedBytes(image, base string) int64 {
	layers := func(ref string) []int64 {
		var sizes []int64
		for _, f := range strings.Fields(harness.Docker(b, "history", "--human=false", "--format", "{{.Size}}", ref)) {
			sizes = append(sizes, b.parseInt(f))
		}
		return sizes
	}
	all, baseLayers := layers(image), layers(base)
	var added int64
	for _, n := range all[:len(all)-len(baseLayers)] { // newest first
		added += n
	}
	return added
}

func (b *bench) parseInt(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		b.Fatalf("%v", err)
	}
	return n
}
