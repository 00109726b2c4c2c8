package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"e2e/harness"
)

// TestMakeAloneListsEveryTarget: `make` with no target prints help, and the
// help names every target of the Makefile with its one-line description.
func TestMakeAloneListsEveryTarget(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	help := harness.Command(t, harness.RepoRoot(), nil, "make")
	// Text inside define ... endef is a variable's value, not a rule.
	rules := regexp.MustCompile(`(?ms)^define .*?^endef$`).ReplaceAllString(string(makefile), "")
	targets := regexp.MustCompile(`(?m)^([a-z0-9-]+):`).FindAllStringSubmatch(rules, -1)
	if len(targets) < 10 {
		t.Fatalf("found only %d targets in the Makefile", len(targets))
	}
	for _, m := range targets {
		line := regexp.MustCompile(`(?m)^  make ` + regexp.QuoteMeta(m[1]) + ` +\S.*$`).FindString(help)
		if line == "" {
			t.Errorf("make's help has no line for %q:\n%s", m[1], help)
		}
	}
}

// TestWithoutDockerTheE2ETestsFailWithOneLine: pointed at an engine that is
// not there, the end-to-end tests fail (they are not skipped) and say how to
// start Docker.
func TestWithoutDockerTheE2ETestsFailWithOneLine(t *testing.T) {
	out, err := harness.Run(t.Context(), ".", []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"},
		"go", "test", "-count=1", "-run", "^TestProdImageIsTaggedLatestAndVersion$", ".")
	if err == nil {
		t.Fatalf("go test passed without Docker:\n%s", out)
	}
	var hints []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, "Docker is not reachable") {
			hints = append(hints, line)
		}
	}
	if len(hints) != 1 || !strings.Contains(hints[0], "make test-unit") {
		t.Errorf("want exactly one line saying Docker is not reachable and how to go on; got:\n%s", out)
	}
}

// TestMakeVulnSaysWhenTheDatabaseIsUnreachable: this machine cannot reach
// the vulnerability database; pointed at a port nothing listens on, make
// vuln fails and says what to do, rather than passing or failing obscurely.
func TestMakeVulnSaysWhenTheDatabaseIsUnreachable(t *testing.T) {
	t.Parallel()
	out, err := harness.Run(t.Context(), harness.RepoRoot(), nil, "make", "vuln", fmt.Sprintf("VULNDB=http://127.0.0.1:%d", freePort(t)))
	if err == nil {
		t.Fatalf("make vuln passed with no database to read:\n%s", out)
	}
	if !strings.Contains(out, "make vuln: govulncheck could not scan") || !strings.Contains(out, "VULNDB") {
		t.Errorf("make vuln failed without saying why and what to do:\n%s", out)
	}
}
