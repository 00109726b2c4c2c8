package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The Kubernetes tests run against the cluster kubectl reaches ($KUBECTL,
// else kubectl on PATH, with KUBECONFIG), once $K8S_LOAD_IMAGE says how to
// put a Docker image into it (kind load docker-image, minikube image load,
// ...). That variable marks a cluster as one for tests: they create and
// delete namespaces there.
func kubectl() string {
	if k := os.Getenv("KUBECTL"); k != "" {
		return k
	}
	return "kubectl"
}

// KubernetesUnavailable says why the Kubernetes tests cannot run here, or
// returns "" when they can.
func KubernetesUnavailable() string {
	if os.Getenv("K8S_LOAD_IMAGE") == "" {
		return "no test cluster set up: K8S_LOAD_IMAGE (the command that puts a Docker image into it) is not set"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if out, err := Run(ctx, "", nil, kubectl(), "version", "--request-timeout=10s"); err != nil {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return "no cluster reachable with " + kubectl() + ": " + lines[len(lines)-1]
	}
	return ""
}

// Kubectl runs kubectl and returns its output, trimmed.
func Kubectl(t TB, args ...string) string {
	t.Helper()
	return strings.TrimSpace(Command(t, "", nil, kubectl(), args...))
}

// TryKubectl runs kubectl for a command whose failure is the answer.
func TryKubectl(t TB, args ...string) (string, error) {
	return Run(t.Context(), "", nil, kubectl(), args...)
}

// Deployment is the app as `make deploy` deploys it from a scratch copy of
// the repository, into a namespace of its own named like its image.
type Deployment struct {
	reporter         // the test, or the step of it, it reports to (RunSteps)
	Dir       string // the copy, whose app/ a test may edit
	Image     string // repository of the images Build makes
	Namespace string
}

// NewDeployment prepares the copy; when the test ends, it shows the
// namespace's state if the test failed, then runs `make undeploy` and removes
// the images Build made from Docker (the cluster keeps its copies).
func NewDeployment(t TB) *Deployment {
	t.Helper()
	name := UniqueName("go-webapp-e2e-")
	d := &Deployment{reporter: reporter{t}, Dir: CopyRepo(t), Image: name, Namespace: name}
	t.Cleanup(func() {
		ctx := context.Background()
		if t.Failed() {
			state, _ := Run(ctx, "", nil, kubectl(), "-n", d.Namespace, "get", "all,pdb,events", "-o", "wide")
			logs, _ := Run(ctx, "", nil, kubectl(), "-n", d.Namespace, "logs", "-l", "app.kubernetes.io/name=app", "--prefix", "--tail=30")
			t.Logf("namespace %s:\n%s\nlogs:\n%s", d.Namespace, state, logs)
		}
		if out, err := Run(ctx, d.Dir, nil, "make", d.makeArgs("undeploy", "none")...); err != nil {
			t.Errorf("make undeploy: %v\n%s", err, out)
		}
		images, _ := Run(ctx, "", nil, "docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", d.Image)
		if refs := strings.Fields(images); len(refs) > 0 {
			_, _ = Run(ctx, "", nil, "docker", append([]string{"image", "rm", "-f"}, refs...)...)
		}
	})
	return d
}

func (d *Deployment) makeArgs(target, version string) []string {
	return []string{target, "IMAGE=" + d.Image, "VERSION=" + version, "K8S_NAMESPACE=" + d.Namespace}
}

// Build runs `make prod` on the copy as it is now, tagged version, and puts
// the image into the cluster.
func (d *Deployment) Build(version string) {
	d.t.Helper()
	Build(d.t, d.Dir, nil, "make", d.makeArgs("prod", version)...)
	load := strings.Fields(os.Getenv("K8S_LOAD_IMAGE"))
	args := append(load[1:], d.Image+":"+version)
	// Once more on failure: the offline cluster's loader has been seen to
	// finish an import that left no image, once in a few dozen runs.
	if out, err := Run(d.t.Context(), d.Dir, nil, load[0], args...); err != nil {
		d.t.Logf("%s: %v, trying again:\n%s", strings.Join(load, " "), err, out)
		Command(d.t, d.Dir, nil, load[0], args...)
	}
}

// Make runs a make target (deploy, undeploy) for version on the copy.
func (d *Deployment) Make(target, version string) string {
	d.t.Helper()
	return Command(d.t, d.Dir, nil, "make", d.makeArgs(target, version)...)
}

// Kubectl runs kubectl in the deployment's namespace.
func (d *Deployment) Kubectl(args ...string) string {
	d.t.Helper()
	return Kubectl(d.t, append([]string{"-n", d.Namespace}, args...)...)
}

// Rendered is the kustomization `make deploy` wrote and applied.
func (d *Deployment) Rendered() string {
	return filepath.Join(d.Dir, "bin", "k8s")
}

// Addr is 127.0.0.1:<the Service's NodePort>.
func (d *Deployment) Addr() string {
	d.t.Helper()
	return "127.0.0.1:" + d.Kubectl("get", "service", "app", "-o", "jsonpath={.spec.ports[0].nodePort}")
}

// Pods lists the app's pods by name (pod/...), terminating ones too.
func (d *Deployment) Pods() []string {
	d.t.Helper()
	return strings.Fields(d.Kubectl("get", "pods", "-l", "app.kubernetes.io/name=app", "-o", "name"))
}

// WaitGone waits until pods have exited, drain and all: a rollout is over
// for its clients then, not when kubectl rollout status returns.
func (d *Deployment) WaitGone(pods []string) {
	d.t.Helper()
	d.Kubectl(append([]string{"wait", "--for=delete", "--timeout=2m"}, pods...)...)
}
