// Package harness is the one driver the end-to-end tests and `make bench`
// share: it does what a user types (make, docker, docker compose) against
// the local engine, on scratch copies of the repository, and reaches
// containers only through ports published on 127.0.0.1.
//
// Every verb takes a TB: tests pass their *testing.T; the bench passes its
// own, whose Fatalf ends the run after cleaning up. A verb that fails ends
// the test with the command's output, and everything a verb starts is
// removed by a Cleanup, also when the test fails.
package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TB is the part of testing.TB the harness uses.
type TB interface {
	Helper()
	Context() context.Context
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Cleanup(func())
	TempDir() string
}

// RepoRoot is the repository under test: the directory above e2e/, found
// from wherever in the module `go test` or `go run` starts.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for ; filepath.Base(dir) != "e2e"; dir = filepath.Dir(dir) {
		if dir == filepath.Dir(dir) {
			panic("harness: not inside the e2e module")
		}
	}
	return filepath.Dir(dir)
}

// CommandTimeout bounds any one command, so a hung engine fails a run with
// output instead of stalling it.
const CommandTimeout = 10 * time.Minute

// Run runs name with args in dir, with the environment plus env, and returns
// the combined output. It is the one place commands start; cleanups call it
// with context.Background(), after the test's context has ended.
func Run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Command runs name with args in dir and returns its combined output; a
// failure ends the test with that output.
func Command(t TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := Run(t.Context(), dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Docker runs the docker CLI and returns its output, trimmed.
func Docker(t TB, args ...string) string {
	t.Helper()
	return strings.TrimSpace(Command(t, "", nil, "docker", args...))
}

// cleanupDocker runs docker in a Cleanup, when the test's context is over.
func cleanupDocker(args ...string) (string, error) {
	return Run(context.Background(), "", nil, "docker", args...)
}

// buildMu runs image builds one at a time across parallel tests: they share
// most steps and cache mounts, so on a small machine running them at once
// gains nothing but contention, and each build's log stays readable.
var buildMu sync.Mutex

// Build is Command for a command that builds images (make prod, compose
// build): one runs at a time.
func Build(t TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	return Command(t, dir, env, name, args...)
}

// RunBuild is Run for a command that builds images: one runs at a time.
func RunBuild(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	return Run(ctx, dir, env, name, args...)
}

// UniqueName returns prefix followed by a random suffix, for images,
// containers and compose projects that must not collide with a user's.
func UniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// MakeVariable reads a variable of the Makefile of the project under test
// (Source), which names the image and the base images.
func MakeVariable(t TB, name string) string {
	t.Helper()
	return MakeVariableIn(t, Source(), name)
}

// MakeVariableIn reads a variable of the Makefile in dir.
func MakeVariableIn(t TB, dir, name string) string {
	t.Helper()
	return strings.TrimSpace(Command(t, dir, nil, "make", "-s", "print-"+name))
}
