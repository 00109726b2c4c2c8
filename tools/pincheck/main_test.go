package main

import (
	"os"
	"path/filepath"
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

// repo is a small repository with the project's renovate.json.
func repo(t *testing.T) string {
	root := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join("..", "..", "renovate.json"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, root, "renovate.json", string(cfg))
	write(t, root, "go.mod", "module example.com/x\n\ngo 1.26.0\n")
	write(t, root, "docker/Dockerfile", "# renovate: datasource=docker depName=golang\nARG GO_VERSION=1.26\nFROM golang:${GO_VERSION}-alpine\n")
	write(t, root, "Makefile", "# renovate: datasource=docker depName=golang\nGO_VERSION ?= 1.26\n")
	write(t, root, ".github/workflows/ci.yaml", "env:\n  # renovate: datasource=golang-version depName=go\n  GO_VERSION: \"1.26\"\n"+
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
