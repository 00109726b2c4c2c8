// Command pincheck checks renovate.json against the repository: the options
// it uses are ones this check knows (a misspelt option fails), its patterns
// compile, and every version pinned in the repository is one of its rules
// updates. A new pin that no rule covers fails, named with its file and
// line, so that it cannot quietly go stale.
//
//	go run ./pincheck [repository root]
//
// What counts as a pin: an ARG or ?= or env value named *_VERSION, a
// go-version, a FROM with a literal tag, an action in `uses:`, and the go
// directive of every go.mod (the rest of go.mod is Renovate's gomod manager's
// whole job). Renovate's own validator checks the rest of the configuration
// in CI (.github/workflows/ci.yaml).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	problems, err := check(root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pincheck: %v\n", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "pincheck: %s\n", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Println("renovate.json: valid, and every pin is updated by one of its rules")
}

// config is the part of Renovate's configuration this repository uses.
type config struct {
	Schema            string          `json:"$schema"`
	Description       string          `json:"description"`
	Extends           []string        `json:"extends"`
	Timezone          string          `json:"timezone"`
	Schedule          []string        `json:"schedule"`
	PostUpdateOptions []string        `json:"postUpdateOptions"`
	EnabledManagers   []string        `json:"enabledManagers"`
	CustomManagers    []customManager `json:"customManagers"`
	PackageRules      []packageRule   `json:"packageRules"`
}

type customManager struct {
	CustomType          string   `json:"customType"`
	Description         string   `json:"description"`
	ManagerFilePatterns []string `json:"managerFilePatterns"`
	MatchStrings        []string `json:"matchStrings"`
	DatasourceTemplate  string   `json:"datasourceTemplate"`
	DepNameTemplate     string   `json:"depNameTemplate"`
	VersioningTemplate  string   `json:"versioningTemplate"`
}

type packageRule struct {
	Description      string   `json:"description"`
	MatchManagers    []string `json:"matchManagers"`
	MatchDepTypes    []string `json:"matchDepTypes"`
	MatchDepNames    []string `json:"matchDepNames"`
	MatchDatasources []string `json:"matchDatasources"`
	GroupName        string   `json:"groupName"`
	RangeStrategy    string   `json:"rangeStrategy"`
	Enabled          *bool    `json:"enabled"`
}

// pin is a version written in the repository.
type pin struct {
	file  string // relative, with /
	line  int
	text  string
	value string
	kind  string // "gomod", "action" or "custom"
}

func (p pin) String() string {
	return fmt.Sprintf("%s:%d %s", p.file, p.line, strings.TrimSpace(p.text))
}

// Where pins are written.
var (
	versionVar = regexp.MustCompile(`^\s*(?:ARG\s+\w*_VERSION=|\w*_VERSION\s*\?=\s*|\w*_VERSION:\s*)"?([^"\s]+)"?`)
	goVersion  = regexp.MustCompile(`^\s*go-version:\s*"?(\d[^"\s]*)"?`)
	fromTag    = regexp.MustCompile(`^\s*FROM\s+(?:--\S+\s+)*([^\s$]+):([^\s$]+)`)
	uses       = regexp.MustCompile(`^\s*-?\s*uses:\s*([^\s@]+)@(\S+)`)
	goLine     = regexp.MustCompile(`^go\s+(\S+)`)
)

func check(root string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(root, "renovate.json"))
	if err != nil {
		return nil, err
	}
	var cfg config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("renovate.json: %v (an option this check does not know: spelt right? add it to pincheck's config type)", err)
	}
	problems, managers := validate(cfg)
	pins, err := findPins(root)
	if err != nil {
		return nil, err
	}
	for _, p := range pins {
		if !covered(p, cfg, managers, root) {
			problems = append(problems, "no rule in renovate.json updates "+p.String())
		}
	}
	return problems, nil
}

// compiled is a custom manager with its patterns compiled.
type compiled struct {
	files   []func(string) bool
	matches []*regexp.Regexp
}

func validate(cfg config) ([]string, []compiled) {
	var problems []string
	var managers []compiled
	for i, m := range cfg.CustomManagers {
		where := fmt.Sprintf("customManagers[%d]", i)
		if m.CustomType != "regex" {
			problems = append(problems, where+`: customType must be "regex"`)
		}
		if len(m.ManagerFilePatterns) == 0 || len(m.MatchStrings) == 0 {
			problems = append(problems, where+": needs managerFilePatterns and matchStrings")
		}
		var c compiled
		for _, p := range m.ManagerFilePatterns {
			match, err := filePattern(p)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: managerFilePatterns %q: %v", where, p, err))
				continue
			}
			c.files = append(c.files, match)
		}
		for _, s := range m.MatchStrings {
			re, err := regexp.Compile(s)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: matchStrings %q: %v", where, s, err))
				continue
			}
			names := re.SubexpNames()
			has := func(group, template string) bool { return slices.Contains(names, group) || template != "" }
			if !slices.Contains(names, "currentValue") || !has("depName", m.DepNameTemplate) || !has("datasource", m.DatasourceTemplate) {
				problems = append(problems, fmt.Sprintf("%s: matchStrings %q must capture currentValue, and depName and datasource (or set their templates)", where, s))
			}
			c.matches = append(c.matches, re)
		}
		managers = append(managers, c)
	}
	return problems, managers
}

// filePattern is Renovate's managerFilePatterns entry: /a regex/ or a glob.
func filePattern(p string) (func(string) bool, error) {
	if len(p) > 1 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
		re, err := regexp.Compile(p[1 : len(p)-1])
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	}
	if _, err := path.Match(p, ""); err != nil {
		return nil, err
	}
	return func(file string) bool { ok, _ := path.Match(p, file); return ok }, nil
}

func findPins(root string) ([]pin, error) {
	var pins []pin
	err := filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if file != root && (strings.HasPrefix(name, ".") && name != ".github" || name == "bin" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, file)
		rel = filepath.ToSlash(rel)
		kind := ""
		switch {
		case name == "Dockerfile", name == "Makefile", strings.HasPrefix(rel, ".github/workflows/"):
			kind = "custom"
		case name == "go.mod":
			kind = "gomod"
		default:
			return nil
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			p := pin{file: rel, line: i + 1, text: line, kind: kind}
			switch {
			case kind == "gomod":
				if m := goLine.FindStringSubmatch(line); m != nil {
					p.value = m[1]
				}
			case uses.MatchString(line):
				m := uses.FindStringSubmatch(line)
				if strings.HasPrefix(m[1], "./") {
					continue // an action of this repository
				}
				p.value, p.kind = m[2], "action"
			case versionVar.MatchString(line):
				p.value = versionVar.FindStringSubmatch(line)[1]
			case goVersion.MatchString(line):
				p.value = goVersion.FindStringSubmatch(line)[1]
			case fromTag.MatchString(line):
				p.value = fromTag.FindStringSubmatch(line)[2]
			}
			if p.value != "" {
				pins = append(pins, p)
			}
		}
		return nil
	})
	return pins, err
}

// covered tells whether a rule of cfg updates p.
func covered(p pin, cfg config, managers []compiled, root string) bool {
	enabled := func(manager string) bool {
		if len(cfg.EnabledManagers) > 0 && !slices.Contains(cfg.EnabledManagers, manager) {
			return false
		}
		for _, r := range cfg.PackageRules {
			if r.Enabled != nil && !*r.Enabled && slices.Contains(r.MatchManagers, manager) && len(r.MatchDepNames)+len(r.MatchDepTypes)+len(r.MatchDatasources) == 0 {
				return false
			}
		}
		return true
	}
	switch p.kind {
	case "gomod":
		return enabled("gomod")
	case "action":
		// Pinned by commit, with the version in a comment for Renovate's
		// github-actions manager to read (helpers:pinGitHubActionDigests).
		return enabled("github-actions") && regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(p.value) &&
			regexp.MustCompile(`#\s*v?\d`).MatchString(p.text)
	}
	if !enabled("custom.regex") {
		return false
	}
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p.file)))
	if err != nil {
		return false
	}
	lineStart := 0
	for range p.line - 1 {
		lineStart += bytes.IndexByte(data[lineStart:], '\n') + 1
	}
	lineEnd := lineStart + len(p.text)
	for _, m := range managers {
		if !slices.ContainsFunc(m.files, func(match func(string) bool) bool { return match(p.file) }) {
			continue
		}
		for _, re := range m.matches {
			value := re.SubexpIndex("currentValue")
			for _, loc := range re.FindAllSubmatchIndex(data, -1) {
				if loc[2*value] >= lineStart && loc[2*value+1] <= lineEnd && string(data[loc[2*value]:loc[2*value+1]]) == p.value {
					return true
				}
			}
		}
	}
	return false
}
