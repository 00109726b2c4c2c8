package kubernetes

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"e2e/harness"
	"e2e/load"
)

// clients is how many keep-alive clients hit the NodePort during rollouts.
const clients = 32

// TestDeployAndRollOutUnderLoad walks one deployment through its life: make
// deploy, admission, network policies, rollouts and a deleted pod under
// load, make undeploy. Each step starts from the state the one before it
// left.
func TestDeployAndRollOutUnderLoad(t *testing.T) {
	d := harness.NewDeployment(t)
	// The requests go to a route of the test's own, whose answer it
	// changes for the new version: the project's own routes are the user's.
	marker := harness.AddMarker(t, d.Dir, "v1")
	d.Build("v1")
	url := func() string { return "http://" + d.Addr() + harness.MarkerPath }

	harness.RunSteps(t, []harness.Step{
		{Name: "make deploy serves on the NodePort", Run: func(t *testing.T) {
			t.Log(d.Make("deploy", "v1"))
			d.Kubectl("wait", "--for=condition=Ready", "pod", "-l", "app.kubernetes.io/name=app", "--timeout=2m")
			harness.WaitBody(t, time.Minute, url(), "v1")
			// Now that the namespace exists, every object passes the API
			// server's validation and admission as it stands.
			harness.Kubectl(t, "apply", "--dry-run=server", "-k", d.Rendered())
			objects := d.Kubectl("get", "deployment,service,poddisruptionbudget,networkpolicy", "-o", "name")
			for _, want := range []string{"deployment.apps/app", "service/app", "poddisruptionbudget.policy/app",
				"networkpolicy.networking.k8s.io/default-deny", "networkpolicy.networking.k8s.io/app"} {
				if !strings.Contains(objects, want) {
					t.Errorf("%s was not created; the namespace holds:\n%s", want, objects)
				}
			}
		}},

		{Name: "the namespace enforces the restricted profile", Run: func(t *testing.T) {
			if level := harness.Kubectl(t, "get", "namespace", d.Namespace,
				"-o", `jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}`); level != "restricted" {
				t.Errorf("namespace enforces %q, want restricted", level)
			}
			bad := filepath.Join(t.TempDir(), "pod.yaml")
			harness.WriteFile(t, bad, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: breaks-restricted
spec:
  containers:
    - name: app
      image: %s:v1
      securityContext:
        privileged: true
`, d.Image))
			out, err := harness.TryKubectl(t, "-n", d.Namespace, "apply", "--dry-run=server", "-f", bad)
			if err == nil || !strings.Contains(out, `violates PodSecurity "restricted`) {
				t.Errorf("a privileged pod was not rejected by admission: %v\n%s", err, out)
			}
			// Ours were admitted: the Deployment's pods run.
			if ready := d.Kubectl("get", "deployment", "app", "-o", "jsonpath={.status.readyReplicas}"); ready != "2" {
				t.Errorf("ready replicas %s, want 2", ready)
			}
		}},

		{Name: "network policies let in only HTTP to the app, and nothing out", Run: func(t *testing.T) {
			checkNetworkPolicies(t, d)
		}},

		{Name: "rollout restart fails no request", Run: func(t *testing.T) {
			result := harness.LoadAt(t, d.Addr(), harness.MarkerPath, clients, 500, "v1", func(gen *load.Generator) {
				old := d.Pods()
				d.Kubectl("rollout", "restart", "deployment/app")
				d.Kubectl("rollout", "status", "deployment/app", "--timeout=3m")
				d.WaitGone(old)
				harness.WaitMore(t, gen, 500)
			})
			checkNoneFailed(t, result)
		}},

		{Name: "make deploy of a new version fails no request", Run: func(t *testing.T) {
			harness.ReplaceIn(t, marker, `"v1"`, `"v2"`)
			d.Build("v2")
			result := harness.LoadAt(t, d.Addr(), harness.MarkerPath, clients, 500, "", func(gen *load.Generator) {
				old := d.Pods()
				d.Make("deploy", "v2")
				d.WaitGone(old)
				harness.WaitMore(t, gen, 500)
			})
			checkNoneFailed(t, result)
			for range 10 { // new connections, spread over the pods
				harness.WaitBody(t, time.Minute, url(), "v2")
			}
		}},

		{Name: "a pod deleted under load is replaced", Run: func(t *testing.T) {
			pod := d.Pods()[0]
			result := harness.LoadAt(t, d.Addr(), harness.MarkerPath, clients, 500, "v2", func(gen *load.Generator) {
				d.Kubectl("delete", pod, "--wait")
				d.Kubectl("rollout", "status", "deployment/app", "--timeout=3m")
				harness.WaitMore(t, gen, 500)
			})
			checkNoneFailed(t, result)
			if now := d.Pods(); len(now) != 2 || slices.Contains(now, pod) {
				t.Errorf("pods after deleting %s: %v, want 2 others", pod, now)
			}
		}},

		{Name: "make undeploy leaves nothing behind", Run: func(t *testing.T) {
			d.Make("undeploy", "v2")
			if out, err := harness.TryKubectl(t, "get", "namespace", d.Namespace); err == nil || !strings.Contains(out, "NotFound") {
				t.Errorf("namespace %s is still there: %s", d.Namespace, out)
			}
		}},
	}, d)
}

// checkNoneFailed: every request got a whole 200, none was refused, reset or
// answered with an error.
func checkNoneFailed(t *testing.T, result load.Result) {
	t.Helper()
	t.Logf("%d requests answered in full in %s; failed: %v", len(result.OK), result.Elapsed.Round(time.Millisecond), result.Failed)
	if len(result.Failed) > 0 {
		t.Errorf("requests failed during the rollout: %v", result.Failed)
	}
}
