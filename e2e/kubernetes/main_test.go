// Package kubernetes deploys the production image with `make deploy` to a
// real cluster and rolls it out under load. It runs where a test cluster is
// set up (see harness.KubernetesUnavailable); elsewhere `make test` says so
// in one line, and `make test-k8s` (K8S_REQUIRED=1) fails.
package kubernetes

import (
	"fmt"
	"os"
	"testing"

	"e2e/harness"
)

func TestMain(m *testing.M) {
	if reason := harness.KubernetesUnavailable(); reason != "" {
		if os.Getenv("K8S_REQUIRED") != "" {
			fmt.Fprintf(os.Stderr, "e2e/kubernetes: %s (docs/kubernetes.md, \"Testing\")\n", reason)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "e2e/kubernetes: skipped, %s; `make test-k8s` runs them once one is (docs/kubernetes.md)\n", reason)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
