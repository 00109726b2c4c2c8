package harness

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// CopyRepo copies the project under test (Source) into a new temporary
// directory and returns it, so a test can edit app/ without touching the
// real tree. .git, bin/ and the test tooling stay behind.
func CopyRepo(t TB) string {
	t.Helper()
	return CopyOf(t, Source())
}

// source is what CopyRepo copies when it is not the repository itself.
var source string

// SetSource makes CopyRepo copy dir from now on: the end-to-end suite runs
// on a copy of the repository made someone's own (e2e/main_test.go).
func SetSource(dir string) { source = dir }

// Source is the project the tests copy: the working tree (uncommitted
// changes included), or what SetSource set.
func Source() string {
	if source == "" {
		return RepoRoot()
	}
	return source
}

// CopyOf is CopyRepo for another copy of the repository, edits and all.
func CopyOf(t TB, repo string) string {
	t.Helper()
	dst := t.TempDir()
	if err := copyTree(repo, dst); err != nil {
		t.Fatalf("copying %s: %v", repo, err)
	}
	return dst
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			switch rel {
			case ".git", "bin", "e2e", "tools":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		// .git is a file, not a directory, in a worktree or a submodule.
		if !d.Type().IsRegular() || rel == ".git" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
}

// ModulePath reads the module path from the go.mod in repo.
func ModulePath(t TB, repo string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindStringSubmatch(ReadFile(t, filepath.Join(repo, "go.mod")))
	if m == nil {
		t.Fatalf("no module line in %s/go.mod", repo)
	}
	return m[1]
}

// ReplaceIn rewrites file, replacing old with new exactly once: an edit a
// developer saves.
func ReplaceIn(t TB, file, old, new string) {
	t.Helper()
	data := ReadFile(t, file)
	if strings.Count(data, old) != 1 {
		t.Fatalf("%s does not contain %q exactly once", file, old)
	}
	WriteFile(t, file, strings.Replace(data, old, new, 1))
}

func ReadFile(t TB, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(data)
}

// WriteFile writes file, creating its directory.
func WriteFile(t TB, file, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatalf("%v", err)
	}
}

// SaveAtomically writes file the way many editors save: a temporary file
// renamed over the original.
func SaveAtomically(t TB, file, content string) {
	t.Helper()
	tmp := file + ".swp"
	WriteFile(t, tmp, content)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatalf("%v", err)
	}
}

// FileState is a file's content and modification time.
type FileState struct {
	Content string
	ModTime int64
}

// TreeState maps each file under dir, by relative path, to its state.
func TreeState(t TB, dir string) map[string]FileState {
	t.Helper()
	state := map[string]FileState{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		state[rel] = FileState{Content: string(data), ModTime: info.ModTime().UnixNano()}
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return state
}

// LineOf is the 1-based line of file holding text.
func LineOf(t TB, file, text string) int {
	t.Helper()
	for i, line := range strings.Split(ReadFile(t, file), "\n") {
		if strings.Contains(line, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line with %q", file, text)
	return 0
}
