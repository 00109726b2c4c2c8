// Command pincheck checks renovate.json against the repository: the options
// it uses are ones this check knows (a misspelt option fails), its patterns
// compile, and every version pinned in the repository is one Renovate
// updates. Each pin that fails is named with its file and line:
//
//   - no rule reads it: no custom manager's pattern matches it;
//
//   - Renovate reads it but leaves it disabled: an indirect module of a
//     go.mod (Renovate's gomod manager turns those off) that no packageRule
//     turns on, or a pin a packageRule switches off;
//
//   - Renovate reads it but cannot read its value: a version the
//     datasource's versioning rejects (golang-version reads semver, so "1.26"
//     is skipped as "unsupported/unversioned" at lookup);
//
//   - two managers read it: Renovate's Dockerfile manager also reads an
//     image named through an ARG that a custom manager updates.
//
//     go run ./pincheck [repository root]
//
// What counts as a pin: an ARG or ?= or env value named *_VERSION, a
// go-version, a FROM with a literal tag, an action in `uses:`, and the go
// directive and every require of every go.mod. Renovate's own validator
// checks the rest of the configuration in CI (.github/workflows/ci.yaml).
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

	"golang.org/x/mod/modfile"
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
	fmt.Println("renovate.json: valid, and every pin is updated by one of its rules, enabled, with a value its datasource reads")
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
	Dockerfile        *managerConfig  `json:"dockerfile"`
	CustomManagers    []customManager `json:"customManagers"`
	PackageRules      []packageRule   `json:"packageRules"`
}

// managerConfig is the configuration of one of Renovate's own managers.
type managerConfig struct {
	Description string `json:"description"`
	Enabled     *bool  `json:"enabled"`
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
	MatchUpdateTypes []string `json:"matchUpdateTypes"`
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
	// For go.mod: the dependency as Renovate's gomod manager extracts it,
	// and whether that manager leaves it enabled before any packageRule.
	dep            dependency
	enabledAtFirst bool
}

func (p pin) String() string {
	return fmt.Sprintf("%s:%d %s", p.file, p.line, strings.TrimSpace(p.text))
}

// dependency is a pin as Renovate's packageRules see it.
type dependency struct {
	manager, depType, depName, datasource string
}

// Where pins are written.
var (
	versionVar = regexp.MustCompile(`^\s*(?:ARG\s+(\w*_VERSION)=|(\w*_VERSION)\s*\?=\s*|(\w*_VERSION):\s*)"?([^"\s]+)"?`)
	goVersion  = regexp.MustCompile(`^\s*go-version:\s*"?(\d[^"\s]*)"?`)
	fromTag    = regexp.MustCompile(`^\s*FROM\s+(?:--\S+\s+)*([^\s$]+):([^\s$]+)`)
	fromArg    = regexp.MustCompile(`^\s*FROM\s+(?:--\S+\s+)*(\S*\$\{?(\w+)\S*)`)
	uses       = regexp.MustCompile(`^\s*-?\s*uses:\s*([^\s@]+)@(\S+)`)
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
	pins, images, err := findPins(root)
	if err != nil {
		return nil, err
	}
	for _, p := range pins {
		if problem := checkPin(p, cfg, managers, root); problem != "" {
			problems = append(problems, problem)
		}
	}
	if managerEnabled(cfg, "dockerfile") {
		problems = append(problems, readTwice(images, pins)...)
	}
	return problems, nil
}

// checkPin says what keeps Renovate from updating p, or "" when nothing does.
func checkPin(p pin, cfg config, managers []compiled, root string) string {
	switch p.kind {
	case "gomod":
		if why := disabled(cfg, p.dep, p.enabledAtFirst); why != "" {
			return fmt.Sprintf("Renovate reads but never updates %s: %s", p, why)
		}
		return ""
	case "action":
		// Pinned by commit, with the version in a comment for Renovate's
		// github-actions manager to read (helpers:pinGitHubActionDigests).
		if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(p.value) || !regexp.MustCompile(`#\s*v?\d`).MatchString(p.text) {
			return "no rule in renovate.json updates " + p.String() + " (pin the action by commit, the version in a comment)"
		}
		dep := dependency{manager: "github-actions", depType: "action", depName: strings.TrimSpace(uses.FindStringSubmatch(p.text)[1]), datasource: "github-tags"}
		if why := disabled(cfg, dep, true); why != "" {
			return fmt.Sprintf("Renovate reads but never updates %s: %s", p, why)
		}
		return ""
	}
	m, ok := matchCustom(p, managers, root)
	if !ok {
		return "no rule in renovate.json updates " + p.String()
	}
	dep := dependency{manager: "custom.regex", depName: m.depName, datasource: m.datasource}
	if why := disabled(cfg, dep, true); why != "" {
		return fmt.Sprintf("Renovate reads but never updates %s: %s", p, why)
	}
	versioning := m.versioning
	if versioning == "" {
		versioning = defaultVersioning[m.datasource]
	}
	valid, known := versionings[versioning]
	switch {
	case versioning == "":
		return fmt.Sprintf("%s: pincheck does not know how Renovate's %s datasource reads versions: add its default versioning to pincheck's defaultVersioning", p, m.datasource)
	case !known:
		return fmt.Sprintf("%s: pincheck does not know Renovate's %s versioning: add it to pincheck's versionings", p, versioning)
	case !valid(p.value):
		return fmt.Sprintf("Renovate cannot read the version in %s: datasource=%s reads versions as %s, and %q is not one, so the lookup skips it (\"unsupported/unversioned value\"); pick a datasource whose versions look like it (the golang image's tags read \"1.26\": datasource=docker depName=golang), or set versioning=", p, m.datasource, versioning, p.value)
	}
	return ""
}

// compiled is a custom manager with its patterns compiled.
type compiled struct {
	manager customManager
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
		c := compiled{manager: m}
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
			if strings.Contains(m.DepNameTemplate+m.DatasourceTemplate+m.VersioningTemplate, "{{") {
				problems = append(problems, where+": templates with {{ }} are beyond this check: name the value itself, or capture it")
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

// image is a FROM line of a Dockerfile that names its image through ARGs.
type image struct {
	file string
	line int
	text string
	arg  string // the first ARG the image reference uses
}

func findPins(root string) ([]pin, []image, error) {
	var pins []pin
	var images []image
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
		if name != "Dockerfile" && name != "Makefile" && name != "go.mod" && !strings.HasPrefix(rel, ".github/workflows/") {
			return nil
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if name == "go.mod" {
			found, err := goModPins(rel, data)
			pins = append(pins, found...)
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			p := pin{file: rel, line: i + 1, text: line, kind: "custom"}
			switch {
			case uses.MatchString(line):
				m := uses.FindStringSubmatch(line)
				if strings.HasPrefix(m[1], "./") {
					continue // an action of this repository
				}
				p.value, p.kind = m[2], "action"
			case versionVar.MatchString(line):
				p.value = versionVar.FindStringSubmatch(line)[4]
			case goVersion.MatchString(line):
				p.value = goVersion.FindStringSubmatch(line)[1]
			case fromTag.MatchString(line):
				p.value = fromTag.FindStringSubmatch(line)[2]
			case name == "Dockerfile" && fromArg.MatchString(line):
				images = append(images, image{file: rel, line: i + 1, text: strings.TrimSpace(line), arg: fromArg.FindStringSubmatch(line)[2]})
			}
			if p.value != "" {
				pins = append(pins, p)
			}
		}
		return nil
	})
	return pins, images, err
}

// goModPins are the go directive and the requires of a go.mod, each as
// Renovate's gomod manager extracts it: an indirect module is disabled
// unless it provides one of the file's tool directives.
func goModPins(file string, data []byte) ([]pin, error) {
	mod, err := modfile.Parse(file, data, nil)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	at := func(line int, value string, dep dependency, enabled bool) pin {
		return pin{file: file, line: line, text: lines[line-1], value: value, kind: "gomod", dep: dep, enabledAtFirst: enabled}
	}
	var pins []pin
	if mod.Go != nil {
		pins = append(pins, at(mod.Go.Syntax.Start.Line, mod.Go.Version, dependency{"gomod", "golang", "go", "golang-version"}, true))
	}
	for _, r := range mod.Require {
		dep := dependency{"gomod", "require", r.Mod.Path, "go"}
		enabled := true
		if r.Indirect {
			dep.depType = "indirect"
			enabled = slices.ContainsFunc(mod.Tool, func(t *modfile.Tool) bool {
				return t.Path == r.Mod.Path || strings.HasPrefix(t.Path, r.Mod.Path+"/")
			})
		}
		pins = append(pins, at(r.Syntax.Start.Line, r.Mod.Version, dep, enabled))
	}
	return pins, nil
}

// customMatch is what a custom manager extracted from a pin.
type customMatch struct {
	depName, datasource, versioning string
}

// matchCustom finds the custom manager's match whose currentValue is p.
func matchCustom(p pin, managers []compiled, root string) (customMatch, bool) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p.file)))
	if err != nil {
		return customMatch{}, false
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
				if loc[2*value] < lineStart || loc[2*value+1] > lineEnd || string(data[loc[2*value]:loc[2*value+1]]) != p.value {
					continue
				}
				group := func(name, template string) string {
					if i := re.SubexpIndex(name); i >= 0 && loc[2*i] >= 0 {
						return string(data[loc[2*i]:loc[2*i+1]])
					}
					return template
				}
				return customMatch{
					depName:    group("depName", m.manager.DepNameTemplate),
					datasource: group("datasource", m.manager.DatasourceTemplate),
					versioning: group("versioning", m.manager.VersioningTemplate),
				}, true
			}
		}
	}
	return customMatch{}, false
}

// managerEnabled: Renovate runs the manager.
func managerEnabled(cfg config, manager string) bool {
	if len(cfg.EnabledManagers) > 0 && !slices.Contains(cfg.EnabledManagers, manager) {
		return false
	}
	if manager == "dockerfile" && cfg.Dockerfile != nil && cfg.Dockerfile.Enabled != nil {
		return *cfg.Dockerfile.Enabled
	}
	return true
}

// disabled says why Renovate never updates dep, or "" when it does:
// enabledAtFirst is what its manager extracts, and the packageRules that
// match it apply in order, the last one that sets enabled winning. A rule
// limited to some update types (matchUpdateTypes) turns off those updates,
// not the dependency.
func disabled(cfg config, dep dependency, enabledAtFirst bool) string {
	if !managerEnabled(cfg, dep.manager) {
		return fmt.Sprintf("Renovate's %s manager is off in renovate.json", dep.manager)
	}
	enabled, why := enabledAtFirst, "Renovate's gomod manager turns off indirect modules unless a packageRule turns them on (matchDepTypes [\"indirect\"], enabled true)"
	for i, r := range cfg.PackageRules {
		if r.Enabled == nil || len(r.MatchUpdateTypes) > 0 || !r.matches(dep) {
			continue
		}
		enabled = *r.Enabled
		why = fmt.Sprintf("packageRules[%d] turns it off (%s)", i, r.Description)
	}
	if enabled {
		return ""
	}
	return why
}

// matches: every matcher the rule sets matches dep.
func (r packageRule) matches(dep dependency) bool {
	return matchList(r.MatchManagers, dep.manager) && matchList(r.MatchDepTypes, dep.depType) &&
		matchList(r.MatchDepNames, dep.depName) && matchList(r.MatchDatasources, dep.datasource)
}

// matchList is Renovate's match of a value against a list of names,
// /regexes/ and globs, each of which may be negated with "!": an empty list
// matches all; a value matches when no negated entry does and, if there are
// others, one of them does.
func matchList(list []string, value string) bool {
	if len(list) == 0 {
		return true
	}
	positive, matched := false, false
	for _, entry := range list {
		negated := strings.HasPrefix(entry, "!")
		entry = strings.TrimPrefix(entry, "!")
		hit := entry == value
		if len(entry) > 1 && strings.HasPrefix(entry, "/") && strings.HasSuffix(entry, "/") {
			re, err := regexp.Compile(entry[1 : len(entry)-1])
			hit = err == nil && re.MatchString(value)
		} else if ok, err := path.Match(entry, value); err == nil && ok {
			hit = true
		}
		if negated && hit {
			return false
		}
		if !negated {
			positive = true
			matched = matched || hit
		}
	}
	return !positive || matched
}

// readTwice: a FROM whose image comes from an ARG a custom manager updates
// is read again by Renovate's dockerfile manager, which opens a second pull
// request for the same bump, outside its group.
func readTwice(images []image, pins []pin) []string {
	var problems []string
	for _, img := range images {
		if slices.ContainsFunc(pins, func(p pin) bool {
			return p.file == img.file && p.kind == "custom" && versionVar.MatchString(p.text) &&
				slices.Contains(versionVar.FindStringSubmatch(p.text)[1:4], img.arg)
		}) {
			problems = append(problems, fmt.Sprintf("Renovate reads %s:%d %s twice: its dockerfile manager through ARG %s as well as the custom manager, two pull requests for one bump; turn it off (\"dockerfile\": {\"enabled\": false})", img.file, img.line, img.text, img.arg))
		}
	}
	return problems
}

// defaultVersioning is the versioning each datasource reads its versions
// with when the pin names none (Renovate's datasources, defaultVersioning).
var defaultVersioning = map[string]string{
	"docker":          "docker",
	"golang-version":  "semver",
	"go":              "semver",
	"npm":             "npm",
	"github-tags":     "semver-coerced",
	"github-releases": "semver-coerced",
}

// versionings tells, for each of Renovate's versionings this repository
// uses, whether it reads a value as a version (its isValid).
var versionings = map[string]func(string) bool{
	// Semantic Versioning 2.0.0, with an optional v.
	"semver": regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`).MatchString,
	// Any value with a number in it.
	"semver-coerced": regexp.MustCompile(`\d`).MatchString,
	// A version or a simple range: 1.2.3, ^1.2, ~1, 1.x.
	"npm": regexp.MustCompile(`^[\^~]?v?\d+(\.(\d+|x|\*)){0,2}(-[0-9A-Za-z.-]+)?$`).MatchString,
	// Image tags: numbers with dots, then anything after a -, not a commit.
	"docker": func(tag string) bool {
		release := strings.SplitN(strings.TrimPrefix(tag, "v"), "-", 2)[0]
		return regexp.MustCompile(`^\d+(\.\d+)*\w*$`).MatchString(release) &&
			!(regexp.MustCompile(`^[a-f0-9]{7,40}$`).MatchString(tag) && !regexp.MustCompile(`^\d+$`).MatchString(tag))
	},
	"loose": regexp.MustCompile(`^v?\d+(\.\d+)*`).MatchString,
}
