// Command dockerfilelint checks a Dockerfile against BuildKit's own rules,
// those of `docker build --check`, without an engine or a registry: the
// engine a project runs on may be too old for --check.
//
//	go run ./dockerfilelint ../docker/Dockerfile [more Dockerfiles]
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfilelint DOCKERFILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if err := lintFile(path); err != nil {
			fmt.Fprintf(os.Stderr, "dockerfilelint: %v\n", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func lintFile(path string) error {
	dt, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sourceMap := llb.NewSourceMap(nil, path, "Dockerfile", dt)
	sourceMap.Definition = &llb.Definition{} // the rules read only the text
	// Every LLB capability, as a current BuildKit has: some instructions
	// (RUN --mount=from=stage) are checked against them.
	caps := pb.Caps.CapSet(pb.Caps.All())
	results, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sourceMap,
		MetaResolver: offlineResolver{},
		LLBCaps:      &caps,
	})
	if err != nil {
		return err
	}
	if results.Error != nil {
		return fmt.Errorf("%s: %s", path, results.Error.Message)
	}
	if len(results.Warnings) == 0 {
		fmt.Printf("%s: no BuildKit lint warnings\n", path)
		return nil
	}
	if err := results.PrintTo(os.Stdout, func(info *pb.SourceInfo) *pb.SourceInfo { return info }); err != nil {
		return err
	}
	return fmt.Errorf("%s: %d warning(s)", path, len(results.Warnings))
}

// offlineResolver answers every base image with a minimal config instead of
// asking a registry: the rules need to know a base exists, not what it holds.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	const config = `{"architecture":"amd64","os":"linux",` +
		`"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},` +
		`"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}`
	return ref, "", []byte(config), nil
}
