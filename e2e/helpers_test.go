// Package e2e drives the repository as a user does: make, docker and docker
// compose against a real engine, containers reached only through ports
// published on 127.0.0.1.
package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"e2e/harness"
)

// repoRoot is the repository the tests run against: the parent of e2e/.
var repoRoot = harness.RepoRoot()

func TestMain(m *testing.M) {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: Docker is not reachable (%s): start it (here: ../shared/docker-offline/provision; elsewhere: start Docker Desktop or the docker service), or run `make test-unit` for the tests that need no Docker\n",
			firstLine(string(out)))
		os.Exit(1)
	}
	code := m.Run()
	removeRepository(testImage)
	os.Exit(code)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// uniqueName returns prefix followed by a random suffix, for images,
// containers and compose projects that must not collide with a user's.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// command runs name with args in dir and returns its combined output; a
// failure ends the test with that output.
func command(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := tryCommand(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func tryCommand(dir string, env []string, name string, args ...string) (string, error) {
	return harness.Run(dir, env, name, args...)
}

// buildMu runs image builds one at a time across parallel tests: they share
// most steps and cache mounts, so on a small machine running them at once
// gains nothing but contention, and each build's log stays readable.
var buildMu sync.Mutex

func docker(t testing.TB, args ...string) string {
	t.Helper()
	return strings.TrimSpace(command(t, repoRoot, nil, "docker", args...))
}

func freePort(t testing.TB) int {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func get(url string) (int, string, error) { return harness.Get(url) }

// eventually polls cond until it holds or timeout passes; timeout only bounds
// a broken run, it is no performance claim.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
}

// waitForBody waits until GET url answers 200 with want.
func waitForBody(t testing.TB, timeout time.Duration, url, want string) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("GET %s to answer %q", url, want), func() (bool, string) {
		status, body, err := get(url)
		if err != nil {
			return false, err.Error()
		}
		return status == 200 && body == want, fmt.Sprintf("%d %q", status, body)
	})
}

// container is a running container started by a test.
type container struct {
	name string
	url  string // http://127.0.0.1:<published port>
}

// runContainer starts image detached, with its port 1323 published on a free
// 127.0.0.1 port, and removes it when the test ends.
func runContainer(t testing.TB, image string, extra ...string) container {
	t.Helper()
	name := uniqueName("go-webapp-e2e-")
	port := freePort(t)
	args := append([]string{"run", "-d", "--name", name, "-p", "127.0.0.1:" + strconv.Itoa(port) + ":1323"}, extra...)
	docker(t, append(args, image)...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := tryCommand(repoRoot, nil, "docker", "logs", name)
			t.Logf("logs of %s:\n%s", name, out)
		}
		_, _ = tryCommand(repoRoot, nil, "docker", "rm", "-f", "-v", name)
	})
	return container{name: name, url: "http://127.0.0.1:" + strconv.Itoa(port)}
}

func inspect(t testing.TB, name, format string) string {
	t.Helper()
	return docker(t, "inspect", "--format", format, name)
}
