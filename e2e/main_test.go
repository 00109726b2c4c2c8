// Package e2e drives the repository as a user does: make, docker and docker
// compose against a real engine, through e2e/harness, with containers
// reached only through ports published on 127.0.0.1.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		reason, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		fmt.Fprintf(os.Stderr, "e2e: Docker is not reachable (%s): start Docker (Docker Desktop, or the docker service), or run `make test-unit` for the tests that need no Docker\n", reason)
		os.Exit(1)
	}
	code := m.Run()
	removeImages(testImage)
	os.Exit(code)
}
