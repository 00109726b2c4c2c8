package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"e2e/harness"
)

// TestMakeSBOMListsTheModulesTheBinaryLinks: `make sbom` writes a CycloneDX
// SBOM of the production binary that lists every module the binary links
// (as its own build info says) at that version, and no other; each module
// go.mod requires directly is there at the version go list selects.
func TestMakeSBOMListsTheModulesTheBinaryLinks(t *testing.T) {
	t.Parallel()
	repo := harness.CopyRepo(t)
	harness.Build(t, repo, nil, "make", "sbom", "TOOLS="+filepath.Join(harness.RepoRoot(), "tools"))

	var sbom struct {
		BOMFormat  string
		Components []struct{ Name, Version, Purl string }
	}
	if err := json.Unmarshal([]byte(harness.ReadFile(t, filepath.Join(repo, "bin", "sbom.cdx.json"))), &sbom); err != nil {
		t.Fatalf("bin/sbom.cdx.json: %v", err)
	}
	if sbom.BOMFormat != "CycloneDX" {
		t.Fatalf("bomFormat %q, want CycloneDX", sbom.BOMFormat)
	}
	listed := map[string]string{}
	for _, c := range sbom.Components {
		listed[c.Name] = c.Version
	}

	// What the binary links, from the build info Go wrote into it.
	info := harness.Command(t, repo, nil, "go", "version", "-m", filepath.Join("bin", "prod", "usr", "local", "bin", "app"))
	linked := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+dep\s+(\S+)\s+(\S+)`).FindAllStringSubmatch(info, -1) {
		linked[m[1]] = m[2]
	}
	if len(linked) == 0 {
		t.Fatalf("no dependency in the binary's build info:\n%s", info)
	}
	for module, version := range linked {
		if listed[module] != version {
			t.Errorf("the binary links %s %s; the SBOM lists %q", module, version, listed[module])
		}
	}
	for module := range listed {
		if _, ok := linked[module]; !ok {
			t.Errorf("the SBOM lists %s, which the binary does not link", module)
		}
	}
	// What go.mod requires directly, as the go command reads it (a require
	// block or lines, replaces): each the binary links (a test-only one it
	// does not) is listed at the version go.mod selects.
	direct := strings.Fields(harness.Command(t, repo, nil, "go", "list", "-m", "-f", "{{if not (or .Main .Indirect)}}{{.Path}}@{{.Version}}{{end}}", "all"))
	checked := 0
	for _, required := range direct {
		module, version, _ := strings.Cut(required, "@")
		if _, ok := linked[module]; !ok {
			continue
		}
		checked++
		if listed[module] != version {
			t.Errorf("go.mod requires %s %s; the SBOM lists %q", module, version, listed[module])
		}
	}
	if checked == 0 {
		t.Errorf("the binary links none of go.mod's direct requirements %q", direct)
	}
	t.Logf("direct requirements: %s", strings.Join(direct, " "))
	t.Logf("%d modules: %s", len(listed), strings.Join(func() []string {
		var s []string
		for k, v := range listed {
			s = append(s, k+"@"+v)
		}
		return s
	}(), " "))
}
