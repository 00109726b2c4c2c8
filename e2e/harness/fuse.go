package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MountWithoutFileEvents serves dir through a FUSE mount (bindfs) at a new
// directory and returns that directory. A change made to dir itself passes
// no file event through the mount, as with a checkout on the Windows side
// of WSL2; nothing caches attributes or entries, so a poll through the
// mount sees a change at once. The mount is undone at the end, after every
// cleanup registered later (compose down, which lets go of it). Where FUSE
// is not available, mount is empty and unavailable says why.
func MountWithoutFileEvents(t TB, dir string) (mount, unavailable string) {
	t.Helper()
	bindfs, err := exec.LookPath("bindfs")
	if err != nil {
		return "", "bindfs is not installed (.ci/run installs it)"
	}
	mount = filepath.Join(t.TempDir(), filepath.Base(dir))
	if err := os.Mkdir(mount, 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	if out, err := Run(t.Context(), "", nil, bindfs, "-o", "attr_timeout=0,entry_timeout=0,negative_timeout=0", dir, mount); err != nil {
		return "", fmt.Sprintf("bindfs could not mount: %v %s", err, strings.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := Run(context.Background(), "", nil, "umount", mount); err != nil {
			t.Errorf("umount %s: %v %s", mount, err, out)
		}
	})
	return mount, ""
}

// MountAppFrom makes the dev service of the copy of the repository in repo
// mount dir where it mounts ./app, through compose.override.yaml, which
// compose reads beside compose.yaml. It returns the override's path.
func MountAppFrom(t TB, repo, dir string) string {
	t.Helper()
	override := filepath.Join(repo, "compose.override.yaml")
	WriteFile(t, override, fmt.Sprintf("services:\n  dev:\n    volumes:\n      - %s:/src/app:ro\n", dir))
	return override
}
