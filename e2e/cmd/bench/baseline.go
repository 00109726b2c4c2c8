package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"e2e/harness"
)

// baseline times save → new response in the dev container of another
// revision of this repository (BENCH_BASELINE, e.g. main or a commit) and in
// this one's, edit by edit in turn, so that both see the same load of the
// machine. It is how a change to the loop is judged: on a shared machine
// the reload figures of two separate runs can differ by more than the
// change does. Without BENCH_BASELINE it is skipped.
func (b *bench) baseline() {
	rev := os.Getenv("BENCH_BASELINE")
	if rev == "" {
		b.Logf("baseline: skipped (BENCH_BASELINE names no revision to compare with)")
		return
	}
	b.Logf("baseline: building and starting the dev containers of %s and of this copy", rev)
	theirRepo := b.checkout(rev)
	theirs := harness.NewProject(b, theirRepo)
	theirs.Compose("up", "-d", "--build")
	ours := b.devProject()
	theirURL, ourURL := theirs.URL("dev")+"/", ours.URL("dev")+"/"
	harness.WaitBody(b, 5*time.Minute, theirURL, b.greeting(theirRepo))
	harness.WaitBody(b, 5*time.Minute, ourURL, b.greeting(b.repo))
	b.measureReloads(theirRepo, theirURL, 2) // warm up
	b.measureReloads(b.repo, ourURL, 2)

	b.Logf("baseline: %d edits in each, in turn", b.edits)
	var theirTimes, ourTimes []time.Duration
	for i := range b.edits {
		// Each goes first every other edit: neither always follows the
		// other's build.
		if i%2 == 0 {
			theirTimes = append(theirTimes, b.measureReloads(theirRepo, theirURL, 1)...)
			ourTimes = append(ourTimes, b.measureReloads(b.repo, ourURL, 1)...)
		} else {
			ourTimes = append(ourTimes, b.measureReloads(b.repo, ourURL, 1)...)
			theirTimes = append(theirTimes, b.measureReloads(theirRepo, theirURL, 1)...)
		}
	}
	theirs.Compose("down", "--volumes")

	title := fmt.Sprintf("9. Reload beside %s: save → new response, %d edits each, in turn", rev, b.edits)
	b.add(title, "the dev container of "+rev, stats(theirTimes), "BENCH_BASELINE")
	b.add(title, "this copy's dev container", stats(ourTimes), "as (a) in section 1")
	b.add(title, "this − "+rev+" (median)", round(median(ourTimes)-median(theirTimes)).String(),
		"what the change adds to a reload; goal ≤ 50ms")
}

// checkout writes the tree of git revision rev of this repository into a
// new directory, with no .git, and returns it.
func (b *bench) checkout(rev string) string {
	dir := b.TempDir()
	archive := filepath.Join(dir, "baseline.tar")
	harness.Command(b, harness.RepoRoot(), nil, "git", "archive", "-o", archive, rev)
	harness.Command(b, dir, nil, "tar", "-xf", archive)
	if err := os.Remove(archive); err != nil {
		b.Fatalf("%v", err)
	}
	return dir
}
