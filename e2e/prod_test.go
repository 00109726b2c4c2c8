package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"e2e/harness"
)

// The tests build the production images once, under a name of their own so
// that a user's image is left alone, from a copy of the project with the
// marker route (harness.AddMarker), which answers prodMarker. They carry
// the repository's version stamp (stamp: VERSION, COMMIT, BUILD_DATE).
var (
	testImage = harness.UniqueName("go-webapp-e2e-")
	builds    sync.Map // make target -> *imageBuild
	stamp     = map[string]string{}
	marked    = sync.OnceValue(func() string {
		repo := harness.CopyRepo(suite)
		harness.AddMarker(suite, repo, prodMarker)
		return repo
	})
)

const prodMarker = "e2e: the production image serves"

type imageBuild struct {
	once sync.Once
	out  string
	err  error
}

// makeImage runs `make <target> IMAGE=testImage` once per test binary and
// returns the image reference it produced.
func makeImage(t *testing.T, target string) string {
	t.Helper()
	b, _ := builds.LoadOrStore(target, &imageBuild{})
	build := b.(*imageBuild)
	build.once.Do(func() {
		// Not t's context: the image outlives this test for the others.
		args := []string{target, "IMAGE=" + testImage}
		for name, value := range stamp {
			args = append(args, name+"="+value)
		}
		build.out, build.err = harness.RunBuild(context.Background(), marked(), nil, "make", args...)
	})
	if build.err != nil {
		t.Fatalf("make %s: %v\n%s", target, build.err, build.out)
	}
	if target == "prod-scratch" {
		return testImage + ":scratch"
	}
	return testImage + ":latest"
}

// removeImages removes every tag of an image repository.
func removeImages(repository string) {
	out, _ := harness.Run(context.Background(), "", nil, "docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository)
	if refs := strings.Fields(out); len(refs) > 0 {
		_, _ = harness.Run(context.Background(), "", nil, "docker", append([]string{"image", "rm", "-f"}, refs...)...)
	}
}

func TestProdImageIsTaggedLatestAndVersion(t *testing.T) {
	makeImage(t, "prod")
	version := stamp["VERSION"]
	latest := harness.Inspect(t, testImage+":latest", "{{.Id}}")
	if versioned := harness.Inspect(t, testImage+":"+version, "{{.Id}}"); latest != versioned {
		t.Errorf("%s:latest is %s but %s:%s is %s", testImage, latest, testImage, version, versioned)
	}
	labels := harness.Inspect(t, testImage+":latest", "{{json .Config.Labels}}")
	for _, want := range []string{
		`"org.opencontainers.image.version":"` + version + `"`,
		`"org.opencontainers.image.revision":"` + stamp["COMMIT"] + `"`,
		`"org.opencontainers.image.created":"` + stamp["BUILD_DATE"] + `"`,
		`"org.opencontainers.image.title":"` + testImage + `"`,
		`"org.opencontainers.image.source"`,
	} {
		if !strings.Contains(labels, want) {
			t.Errorf("labels %s lack %s", labels, want)
		}
	}
}

// lockedDown is how production should run either image (Kubernetes'
// restricted profile): read-only root, no capabilities, no privilege
// escalation.
var lockedDown = []string{"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"}

// TestProdImages runs each image as `docker run` does by default, and locked
// down. Both must serve, become healthy, run as non-root and stop cleanly.
func TestProdImages(t *testing.T) {
	for _, target := range []string{"prod", "prod-scratch"} {
		for _, mode := range []string{"default", "locked-down"} {
			t.Run(target+"/"+mode, func(t *testing.T) {
				t.Parallel()
				var flags []string
				if mode == "locked-down" {
					flags = lockedDown
				}
				testProdContainer(t, harness.StartContainer(t, makeImage(t, target), flags))
			})
		}
	}
}

func testProdContainer(t *testing.T, c *harness.Container) {
	t.Helper()
	harness.WaitBody(t, 30*time.Second, c.URL+harness.MarkerPath, prodMarker)

	if user := c.Inspect("{{.Config.User}}"); user != "65532:65532" {
		t.Errorf("image user = %q, want 65532:65532", user)
	}
	status := harness.Docker(t, "exec", c.Name, "/usr/local/bin/app", "-version")
	if !strings.Contains(status, stamp["VERSION"]) {
		t.Errorf("-version in the image printed %q, want the make VERSION", status)
	}
	// What the kernel says, not what the image claims.
	if uids := processUIDs(t, c.Name); slices.Contains(uids, "0") {
		t.Errorf("a process in the container runs as root: UIDs %v", uids)
	}

	harness.Eventually(t, time.Minute, "health status healthy", func() (bool, string) {
		s := c.Inspect("{{.State.Health.Status}}")
		return s == "healthy", s
	})

	t.Logf("docker stop took %s", c.Stop().Round(time.Millisecond))
	if code := c.Inspect("{{.State.ExitCode}}"); code != "0" {
		t.Errorf("exit code after docker stop = %s, want 0 (137 would mean SIGKILL after the grace period)", code)
	}
	if logs := c.Logs(); !strings.Contains(logs, `"msg":"server stopped"`) {
		t.Errorf("no 'server stopped' log line after docker stop:\n%s", logs)
	}
}

// processUIDs reads the real UIDs of the container's processes from the
// host's /proc through docker top, which works without a shell in the image.
// Besides the server there may be a health check running.
func processUIDs(t *testing.T, name string) []string {
	t.Helper()
	var uids []string
	for i, line := range strings.Split(harness.Docker(t, "top", name, "-o", "pid,uid"), "\n") {
		if fields := strings.Fields(line); i > 0 && len(fields) == 2 {
			uids = append(uids, fields[1])
		}
	}
	if len(uids) == 0 {
		t.Fatalf("docker top %s listed no process", name)
	}
	return uids
}

// TestProdImagesHoldOnlyTheBinary compares each image's files with its base:
// the runner adds the binary and the CA bundle to alpine and nothing else
// (no Go toolchain, no source); the scratch image holds those and a passwd.
// A file the image writes with the content its base already has (the CA
// bundle can be the same) does not count as added.
func TestProdImagesHoldOnlyTheBinary(t *testing.T) {
	alpine := "alpine:" + harness.MakeVariable(t, "ALPINE_VERSION")
	tests := []struct {
		target  string
		base    string // "" for scratch
		allowed []string
	}{
		{"prod", alpine, []string{"etc/ssl/certs/ca-certificates.crt", "usr/local/bin/app"}},
		{"prod-scratch", "", []string{"etc/passwd", "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/app"}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			files := exportedFiles(t, makeImage(t, tt.target))
			baseFiles := map[string][]byte{}
			if tt.base != "" {
				baseFiles = exportedFiles(t, tt.base)
			}
			var added []string
			for path, content := range files {
				if base, ok := baseFiles[path]; !ok || !bytes.Equal(base, content) {
					added = append(added, path)
				}
			}
			slices.Sort(added)
			if !slices.Contains(added, "usr/local/bin/app") || slices.ContainsFunc(added, func(p string) bool { return !slices.Contains(tt.allowed, p) }) {
				t.Errorf("%s adds %q to its base, want the binary and at most %q", tt.target, added, tt.allowed)
			}
			for path := range files {
				if strings.HasSuffix(path, ".go") || strings.Contains(path, "usr/local/go/") || filepath.Base(path) == "go" {
					t.Errorf("%s holds %s: no Go toolchain or source belongs in it", tt.target, path)
				}
			}
		})
	}
}

// exportedFiles lists the regular files of a container created from image,
// each with its content (links by target), leaving out what the engine itself
// puts into every container.
func exportedFiles(t *testing.T, image string) map[string][]byte {
	t.Helper()
	id := harness.Docker(t, "create", image)
	defer harness.Run(context.Background(), "", nil, "docker", "rm", "-f", id)
	cmd := exec.CommandContext(t.Context(), "docker", "export", id)
	var tarball bytes.Buffer
	cmd.Stdout = &tarball
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker export %s: %v", image, err)
	}
	engine := []string{".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab"}
	files := map[string][]byte{}
	r := tar.NewReader(&tarball)
	for {
		h, err := r.Next()
		if err != nil {
			break
		}
		path := strings.TrimPrefix(h.Name, "./")
		if slices.Contains(engine, path) || strings.HasPrefix(path, "dev/") || strings.HasPrefix(path, "proc/") || strings.HasPrefix(path, "sys/") {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg:
			var content bytes.Buffer
			_, _ = content.ReadFrom(r)
			files[path] = content.Bytes()
		case tar.TypeSymlink, tar.TypeLink:
			files[path] = []byte("-> " + h.Linkname)
		}
	}
	return files
}

// TestBuilderCrossCompilesForArm64 builds the builder target for linux/arm64
// and exports it: it holds a static aarch64 ELF binary and nothing else but
// the CA bundle and a passwd line.
func TestBuilderCrossCompilesForArm64(t *testing.T) {
	t.Parallel()
	dest := t.TempDir()
	harness.Build(t, harness.Source(), nil, "docker", "buildx", "build", "-f", "docker/Dockerfile", "--target", "builder",
		"--platform", "linux/arm64", "--output", "type=local,dest="+dest, ".")
	files := slices.Sorted(maps.Keys(harness.TreeState(t, dest)))
	if want := []string{"etc/passwd", "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/app"}; !slices.Equal(files, want) {
		t.Errorf("builder exported %q, want %q", files, want)
	}
	f, err := elf.Open(filepath.Join(dest, "usr", "local", "bin", "app"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("binary machine = %s, want EM_AARCH64", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary asks for a dynamic loader; want a static binary")
		}
	}
}
