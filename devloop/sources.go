package main

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// sourceVersion is the code a build was compiled from: a hash of each Go
// file under the watched directory (app/), taken as the build started
// compiling. A breakpoint's line means something only in the version of its
// file it was set against, so the relay compares the file on disk with the
// serving build's: the same, the breakpoint applies at once; changed, it
// waits for the next build (session.go).
type sourceVersion struct {
	root  string                       // absolute
	files map[string][sha256.Size]byte // by absolute path
}

// snapshotSources hashes the Go files under root. A save during the build
// supersedes it (loop.go), so the snapshot is what the serving build read.
func snapshotSources(root string) sourceVersion {
	root, err := filepath.Abs(root)
	if err != nil {
		return sourceVersion{}
	}
	v := sourceVersion{root: root, files: map[string][sha256.Size]byte{}}
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		if sum, ok := hashFile(path); ok {
			v.files[path] = sum
		}
		return nil
	})
	return v
}

// changed reports whether the file at path (in the container) differs from
// what the build of v compiled: edited, created or deleted since. A file
// outside the watched directory (a module's, the standard library's) does
// not change under the loop; nor does any file of an unknown version.
func (v sourceVersion) changed(path string) bool {
	if v.files == nil || !within(v.root, path) {
		return false
	}
	compiled, was := v.files[filepath.Clean(path)]
	now, is := hashFile(path)
	return was != is || compiled != now
}

func hashFile(path string) ([sha256.Size]byte, bool) {
	content, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(content), true
}

func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && filepath.IsAbs(path) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
