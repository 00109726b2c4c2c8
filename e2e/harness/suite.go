package harness

import (
	"context"
	"fmt"
	"os"
	"slices"
)

// SuiteTB is the TB of what a TestMain prepares for every test (a project
// they all copy): it lives until Close, which runs its cleanups; Fatalf
// prints, cleans up and ends the test binary, since no test can run
// without what failed.
type SuiteTB struct {
	name     string
	cleanups []func()
	failed   bool
}

// NewSuiteTB returns a SuiteTB whose messages begin with name.
func NewSuiteTB(name string) *SuiteTB { return &SuiteTB{name: name} }

func (s *SuiteTB) Helper()                  {}
func (s *SuiteTB) Context() context.Context { return context.Background() }
func (s *SuiteTB) Failed() bool             { return s.failed }
func (s *SuiteTB) Cleanup(f func())         { s.cleanups = append(s.cleanups, f) }

func (s *SuiteTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", s.name, fmt.Sprintf(format, args...))
}

func (s *SuiteTB) Errorf(format string, args ...any) {
	s.failed = true
	s.Logf(format, args...)
}

func (s *SuiteTB) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	s.Close()
	os.Exit(1)
}

func (s *SuiteTB) TempDir() string {
	dir, err := os.MkdirTemp("", "go-webapp-e2e-")
	if err != nil {
		s.Fatalf("%v", err)
	}
	s.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Close runs the cleanups, the last registered first.
func (s *SuiteTB) Close() {
	cleanups := s.cleanups
	s.cleanups = nil
	for _, f := range slices.Backward(cleanups) {
		f()
	}
}
