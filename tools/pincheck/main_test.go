package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, root, file, content string) {
	t.Helper()
	path := filepath.Join(root, file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// goMod has a direct and an indirect module, and an indirect one that
// provides a tool, which Renovate's gomod manager leaves enabled.
const goMod = `module example.com/x

go 1.26.0

tool golang.org/x/vuln/cmd/govulncheck

require github.com/labstack/echo/v4 v4.16.5

require (
	golang.org/x/net v0.63.0 // indirect
	golang.org/x/vuln v1.9.0 // indirect
)
`

// repo is a small repository with the project's renovate.json.
func repo(t *testing.T) string {
	root := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join("..", "..", "renovate.json"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "renovate.json", string(cfg))
	write(t, root, "go.mod", goMod)
	write(t, root, "docker/Dockerfile", "# renovate: datasource=docker depName=golang\nARG GO_VERSION=1.26\nFROM golang:${GO_VERSION}-alpine\n")
	write(t, root, "Makefile", "# renovate: datasource=docker depName=golang\nGO_VERSION ?= 1.26\n")
	write(t, root, ".github/workflows/ci.yaml", "env:\n  # renovate: datasource=docker depName=golang\n  GO_VERSION: \"1.26\"\n"+
		"jobs:\n  x:\n    steps:\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n")
	return root
}

func TestEveryPinOfTheProjectIsCovered(t *testing.T) {
	problems, err := check(filepath.Join("..", ".."))
	if err != nil || len(problems) > 0 {
		t.Fatalf("the repository: %v %v", err, problems)
	}
}

func TestAnnotatedPinsAreCovered(t *testing.T) {
	problems, err := check(repo(t))
	if err != nil || len(problems) > 0 {
		t.Fatalf("%v %v", err, problems)
	}
}

func TestANewPinNoRuleUpdatesFailsNamingIt(t *testing.T) {
	for _, tc := range []struct{ file, add, want string }{
		{"docker/Dockerfile", "ARG NODE_VERSION=22\n", "docker/Dockerfile:4 ARG NODE_VERSION=22"},
		{"docker/Dockerfile", "FROM nginx:1.27\n", "docker/Dockerfile:4 FROM nginx:1.27"},
		{"Makefile", "KIND_VERSION ?= v0.30.0\n", "Makefile:3 KIND_VERSION ?= v0.30.0"},
		{".github/workflows/ci.yaml", "      - uses: actions/cache@v4\n", ".github/workflows/ci.yaml:8 - uses: actions/cache@v4"},
		{".github/workflows/ci.yaml", "      - uses: actions/setup-go@v6\n        with:\n          go-version: 1.26\n", ".github/workflows/ci.yaml:10 go-version: 1.26"},
	} {
		root := repo(t)
		old, _ := os.ReadFile(filepath.Join(root, tc.file))
		write(t, root, tc.file, string(old)+tc.add)
		problems, err := check(root)
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("adding %q to %s: problems %q, want one naming %s", tc.add, tc.file, problems, tc.want)
		}
	}
}

func TestAnOptionThisCheckDoesNotKnowFails(t *testing.T) {
	root := repo(t)
	cfg, _ := os.ReadFile(filepath.Join(root, "renovate.json"))
	write(t, root, "renovate.json", strings.Replace(string(cfg), `"timezone"`, `"timezoen"`, 1))
	if _, err := check(root); err == nil || !strings.Contains(err.Error(), "timezoen") {
		t.Fatalf("a misspelt option: %v", err)
	}
}

// editConfig changes the repository's renovate.json as JSON.
func editConfig(t *testing.T, root string, edit func(cfg map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "renovate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "renovate.json", string(out))
}

// withoutRules drops the packageRules that set enabled for depType.
func withoutRules(depType string) func(cfg map[string]any) {
	return func(cfg map[string]any) {
		var kept []any
		for _, r := range cfg["packageRules"].([]any) {
			rule := r.(map[string]any)
			types, _ := rule["matchDepTypes"].([]any)
			if _, sets := rule["enabled"]; sets && slices.Contains(types, any(depType)) {
				continue
			}
			kept = append(kept, r)
		}
		cfg["packageRules"] = kept
	}
}

func checkFails(t *testing.T, root string, want ...string) {
	t.Helper()
	problems, err := check(root)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(problems, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems %q, want one naming %s", problems, w)
		}
	}
}

func TestAPinRenovateLeavesDisabledFailsNamingIt(t *testing.T) {
	t.Run("an indirect module without a rule that turns it on", func(t *testing.T) {
		root := repo(t)
		editConfig(t, root, withoutRules("indirect"))
		checkFails(t, root, "go.mod:10 golang.org/x/net v0.63.0 // indirect")
		if problems, _ := check(root); strings.Contains(strings.Join(problems, "\n"), "golang.org/x/vuln") {
			t.Errorf("the module of a tool directive is enabled by Renovate itself, yet: %q", problems)
		}
	})
	t.Run("a pin a rule turns off", func(t *testing.T) {
		root := repo(t)
		editConfig(t, root, func(cfg map[string]any) {
			cfg["packageRules"] = append(cfg["packageRules"].([]any),
				map[string]any{"matchDepNames": []any{"golang"}, "matchManagers": []any{"custom.regex"}, "enabled": false})
		})
		checkFails(t, root, "Makefile:2 GO_VERSION ?= 1.26", "docker/Dockerfile:2 ARG GO_VERSION=1.26")
	})
	t.Run("a rule limited to some updates turns off those, not the module", func(t *testing.T) {
		root := repo(t)
		editConfig(t, root, func(cfg map[string]any) {
			cfg["packageRules"] = append(cfg["packageRules"].([]any),
				map[string]any{"matchDepTypes": []any{"indirect"}, "matchUpdateTypes": []any{"major"}, "enabled": false})
		})
		if problems, err := check(root); err != nil || len(problems) > 0 {
			t.Fatalf("%v %q", err, problems)
		}
	})
}

func TestAValueItsDatasourceCannotReadFailsNamingIt(t *testing.T) {
	for _, tc := range []struct{ annotation, value, want string }{
		// Renovate 44.121.2's lookup: "unsupported/unversioned value 1.26 (versioning=semver)".
		{"datasource=golang-version depName=go", `"1.26"`, `.github/workflows/ci.yaml:3 GO_VERSION: "1.26"`},
		{"datasource=docker depName=golang", "latest", ".github/workflows/ci.yaml:3 GO_VERSION: latest"},
		{"datasource=go depName=github.com/air-verse/air", "1.67", ".github/workflows/ci.yaml:3 GO_VERSION: 1.67"},
	} {
		root := repo(t)
		write(t, root, ".github/workflows/ci.yaml", "env:\n  # renovate: "+tc.annotation+"\n  GO_VERSION: "+tc.value+"\n")
		checkFails(t, root, tc.want)
	}
	root := repo(t)
	write(t, root, ".github/workflows/ci.yaml", "env:\n  # renovate: datasource=golang-version depName=go\n  GO_VERSION: \"1.26.3\"\n")
	if problems, err := check(root); err != nil || len(problems) > 0 {
		t.Fatalf("a full Go version for golang-version: %v %q", err, problems)
	}
}

func TestTheDockerfileManagerReadingAnARGImageFails(t *testing.T) {
	root := repo(t)
	editConfig(t, root, func(cfg map[string]any) { delete(cfg, "dockerfile") })
	checkFails(t, root, "docker/Dockerfile:3 FROM golang:${GO_VERSION}-alpine")
}
