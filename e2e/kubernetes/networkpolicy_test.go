package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"e2e/harness"
)

// checkNetworkPolicies reads the NetworkPolicies of the deployment's
// namespace as the API server stores them and works out what they let
// through, as a network plugin that enforces them would: to the app's pods,
// HTTP on the port the Service sends to, from anywhere, and nothing else; to
// any other pod of the namespace, nothing; from any pod, nothing out. The
// test cluster's network plugin does not enforce policies (docs/kubernetes.md),
// so what the policies say is what this can check.
func checkNetworkPolicies(t *testing.T, d *harness.Deployment) {
	var list struct{ Items []networkPolicy }
	if err := json.Unmarshal([]byte(d.Kubectl("get", "networkpolicy", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	var app map[string]string
	if err := json.Unmarshal([]byte(d.Kubectl("get", "deployment", "app", "-o", "jsonpath={.spec.template.metadata.labels}")), &app); err != nil {
		t.Fatal(err)
	}
	port := d.Kubectl("get", "service", "app", "-o", "jsonpath={.spec.ports[0].targetPort}")
	containerPort := d.Kubectl("get", "deployment", "app", "-o", fmt.Sprintf(`jsonpath={.spec.template.spec.containers[0].ports[?(@.name=="%s")].containerPort}`, port))
	other := map[string]string{"app.kubernetes.io/name": "another-workload"}

	for _, pod := range []struct {
		name   string
		labels map[string]string
		in     []string // the ports let in, from anywhere
	}{
		{"the app's pods", app, []string{"TCP/" + port}},
		{"another pod of the namespace", other, nil},
	} {
		rules, isolated := allowed(t, list.Items, pod.labels, "Ingress")
		if !isolated {
			t.Errorf("%s: no policy restricts what comes in, so everything may", pod.name)
		}
		var in []string
		for _, r := range rules {
			if len(r.From) > 0 {
				var from bytes.Buffer
				raw, _ := json.Marshal(r.From)
				_ = json.Compact(&from, raw)
				t.Errorf("%s: a rule lets in only from %s; the app needs HTTP from anywhere its Service is reached", pod.name, from.String())
			}
			if len(r.Ports) == 0 {
				in = append(in, "every port")
			}
			for _, p := range r.Ports {
				in = append(in, p.String(port, containerPort))
			}
		}
		if !slices.Equal(in, pod.in) {
			t.Errorf("%s: policies let in %v, want %v", pod.name, in, pod.in)
		}
		if rules, isolated := allowed(t, list.Items, pod.labels, "Egress"); !isolated || len(rules) > 0 {
			t.Errorf("%s: policies let traffic out (isolated for egress: %v, rules %v); nothing in the namespace calls out", pod.name, isolated, rules)
		}
	}
}

// networkPolicy is the part of a NetworkPolicy that says what it allows.
type networkPolicy struct {
	Metadata struct{ Name string }
	Spec     struct {
		PodSelector struct {
			MatchLabels      map[string]string
			MatchExpressions []json.RawMessage
		}
		PolicyTypes []string
		Ingress     []policyRule
		Egress      []policyRule
	}
}

type policyRule struct {
	Ports []policyPort
	From  []json.RawMessage
	To    []json.RawMessage
}

type policyPort struct {
	Protocol string
	Port     any // a number or a port's name
}

// String is PROTOCOL/name, the port written as the container's port name
// when it is that port's number.
func (p policyPort) String(name, number string) string {
	protocol := p.Protocol
	if protocol == "" {
		protocol = "TCP"
	}
	port := fmt.Sprint(p.Port)
	if port == number {
		port = name
	}
	return protocol + "/" + port
}

// allowed returns the rules of every policy that selects a pod with labels
// in direction (Ingress or Egress), and whether any does: a pod no policy
// selects for a direction is not isolated, and everything may pass.
func allowed(t *testing.T, policies []networkPolicy, labels map[string]string, direction string) (rules []policyRule, isolated bool) {
	t.Helper()
	for _, p := range policies {
		if len(p.Spec.PodSelector.MatchExpressions) > 0 {
			t.Fatalf("policy %s selects pods with matchExpressions, which this check does not read", p.Metadata.Name)
		}
		selects := true
		for k, v := range p.Spec.PodSelector.MatchLabels {
			selects = selects && labels[k] == v
		}
		// Without policyTypes, a policy restricts ingress, and egress when
		// it has egress rules (the API's default).
		types := p.Spec.PolicyTypes
		if len(types) == 0 {
			types = []string{"Ingress"}
			if len(p.Spec.Egress) > 0 {
				types = append(types, "Egress")
			}
		}
		if !selects || !slices.Contains(types, direction) {
			continue
		}
		isolated = true
		if direction == "Ingress" {
			rules = append(rules, p.Spec.Ingress...)
		} else {
			rules = append(rules, p.Spec.Egress...)
		}
	}
	return rules, isolated
}
