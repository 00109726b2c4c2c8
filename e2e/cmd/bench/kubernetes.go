package main

import (
	"fmt"
	"strconv"
	"time"

	"e2e/harness"
	"e2e/load"
)

// rollout times `make deploy` of a new version on the test cluster while 32
// keep-alive clients go through the NodePort, and counts what failed. It
// says why when no test cluster is set up (docs/kubernetes.md).
func (b *bench) rollout() {
	title := "7. Kubernetes: `make deploy` of a new version under load (32 clients through the NodePort)"
	if reason := harness.KubernetesUnavailable(); reason != "" {
		b.add(title, "not measured", reason, "")
		return
	}
	b.Logf("rollout: make deploy v1, then v2 under load")
	d := harness.NewDeployment(b)
	marker := harness.AddMarker(b, d.Dir, "v1")
	d.Build("v1")
	d.Make("deploy", "v1")
	harness.WaitBody(b, time.Minute, "http://"+d.Addr()+harness.MarkerPath, "v1")
	harness.ReplaceIn(b, marker, `"v1"`, `"v2"`)
	d.Build("v2")

	var took time.Duration
	var drained time.Duration
	result := harness.LoadAt(b, d.Addr(), harness.MarkerPath, 32, 500, "", func(gen *load.Generator) {
		old := d.Pods()
		start := time.Now()
		d.Make("deploy", "v2")
		took = time.Since(start)
		d.WaitGone(old)
		drained = time.Since(start)
		harness.WaitMore(b, gen, 500)
	})
	failed := 0
	for _, n := range result.Failed {
		failed += n
	}
	b.add(title, "make deploy, apply to rollout complete", round(took).String(), "2 replicas, maxUnavailable 0")
	b.add(title, "until the old pods have exited", round(drained).String(), "DRAIN_DELAY 10s, then the graceful shutdown")
	b.add(title, "requests answered in full", strconv.Itoa(len(result.OK)), fmt.Sprintf("load for %s in all", round(result.Elapsed)))
	b.add(title, "requests failed", strconv.Itoa(failed), "goal 0")
	if failed > 0 {
		b.far("a rollout under load failed %d requests: %v", failed, result.Failed)
	}
}
