package harness

import "testing"

// Step is one part of a walk through a scenario; each starts from the state
// the one before it left.
type Step struct {
	Name string
	Run  func(t *testing.T)
}

// RunSteps runs steps in order as subtests and stops at the first that
// fails: the ones after it would only time out on a state it did not reach.
func RunSteps(t *testing.T, steps []Step) {
	t.Helper()
	for i, s := range steps {
		if !t.Run(s.Name, s.Run) {
			for _, skipped := range steps[i+1:] {
				t.Logf("%q not run: %q failed first", skipped.Name, s.Name)
			}
			return
		}
	}
}
