package harness

import "testing"

// Step is one part of a walk through a scenario; each starts from the state
// the one before it left.
type Step struct {
	Name string
	Run  func(t *testing.T)
}

// Reporter is a harness object that reports to a test: a Project, a
// Deployment. RunSteps points it at each step while the step runs, so that
// a failure inside it fails that step.
type Reporter interface {
	// reportTo makes t the test to report to and returns the one before.
	reportTo(t TB) TB
}

// reporter is what a Reporter embeds: the test it reports to now.
type reporter struct{ t TB }

// TB is the test the object reports to now.
func (r *reporter) TB() TB { return r.t }

func (r *reporter) reportTo(t TB) TB {
	parent := r.t
	r.t = t
	return parent
}

// RunSteps runs steps in order as subtests and stops at the first that
// fails: the ones after it would only time out on a state it did not reach.
// The reporters report to the step that is running.
func RunSteps(t *testing.T, steps []Step, reporters ...Reporter) {
	t.Helper()
	for i, s := range steps {
		passed := t.Run(s.Name, func(t *testing.T) {
			for _, r := range reporters {
				parent := r.reportTo(t)
				defer r.reportTo(parent)
			}
			s.Run(t)
		})
		if !passed {
			for _, skipped := range steps[i+1:] {
				t.Logf("%q not run: %q failed first", skipped.Name, s.Name)
			}
			return
		}
	}
}
