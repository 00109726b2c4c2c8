// Package e2e drives the repository as a user does: make, docker and docker
// compose against a real engine, through e2e/harness, with containers
// reached only through ports published on 127.0.0.1.
//
// In the template's repository the tests run on a copy of it made
// someone's own first (makeItYours, custom_test.go): a template is cloned
// to be changed, and its machinery must hold on the user's project, not
// only on the sample. In a user's project they run on the project itself.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"e2e/harness"
)

// suite holds what every test shares: the customised copy, the images.
var suite = harness.NewSuiteTB("e2e")

func TestMain(m *testing.M) {
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		reason, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		fmt.Fprintf(os.Stderr, "e2e: Docker is not reachable (%s): start Docker (Docker Desktop, or the docker service), or run `make test-unit` for the tests that need no Docker\n", reason)
		os.Exit(1)
	}
	// The images carry the repository's version, which a copy without
	// .git cannot tell.
	for _, name := range []string{"VERSION", "COMMIT", "BUILD_DATE"} {
		stamp[name] = harness.MakeVariableIn(suite, harness.RepoRoot(), name)
	}
	// The template's own repository is made someone's own first; a project
	// that already is (yours, cloned from the template) is tested as it is.
	if sample, why := isTheSample(suite, harness.RepoRoot()); sample {
		yours := harness.CopyRepo(suite)
		makeItYours(suite, yours)
		harness.SetSource(yours)
		customised = true
	} else {
		notTheSample = why
		suite.Logf("testing this project as it is (%s), not a customised copy of the template's sample", why)
	}

	code := m.Run()
	removeImages(testImage)
	suite.Close()
	os.Exit(code)
}
