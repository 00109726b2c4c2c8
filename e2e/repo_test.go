package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"e2e/harness"
)

// copyRepo copies the working tree into a temporary directory, so a test
// can edit app/ without touching the real tree.
func copyRepo(t testing.TB) string {
	t.Helper()
	dst := t.TempDir()
	if err := harness.CopyRepo(repoRoot, dst); err != nil {
		t.Fatalf("copying the repository: %v", err)
	}
	return dst
}

func modulePath(t testing.TB, repo string) string {
	t.Helper()
	path, err := harness.ModulePath(repo)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

type fileState struct {
	content string
	modTime int64
}

// treeState maps each file under dir (relative path) to its content and
// modification time.
func treeState(t testing.TB, dir string) map[string]fileState {
	t.Helper()
	state := map[string]fileState{}
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
		state[rel] = fileState{content: string(data), modTime: info.ModTime().UnixNano()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// replaceIn rewrites file, replacing old with new exactly once.
func replaceIn(t testing.TB, file, old, new string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(data), old) != 1 {
		t.Fatalf("%s does not contain %q exactly once", file, old)
	}
	writeFile(t, file, strings.Replace(string(data), old, new, 1))
}

func readFile(t testing.TB, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(t testing.TB, file, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// saveAtomically writes file the way many editors save: a temporary file
// renamed over the original.
func saveAtomically(t testing.TB, file, content string) {
	t.Helper()
	tmp := file + ".swp"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}
