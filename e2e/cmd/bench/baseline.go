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
// change does. Both get the marker route, measured as everywhere else, so
// the revision must have addRoutes in app/routes.go (the sample has since
// it split its routes out). Without BENCH_BASELINE it is skipped.
func (b *bench) baseline() {
	rev := os.Getenv("BENCH_BASELINE")
	if rev == "" {
		b.Logf("baseline: skipped (BENCH_BASELINE names no revision to compare with)")
		return
	}
	b.Logf("baseline: building and starting the dev containers of %s and of this copy", rev)
	theirRepo := b.checkout(rev)
	if _, err := os.Stat(filepath.Join(theirRepo, "app", "routes.go")); err != nil {
		b.Fatalf("BENCH_BASELINE=%s has no app/routes.go, where the bench adds its route to addRoutes: choose a later revision", rev)
	}
	b.addMarker(theirRepo)
	theirs := harness.NewProject(b, theirRepo)
	theirs.Compose("up", "-d", "--build")
	ours := b.devProject()
	theirURL, ourURL := theirs.URL("dev")+harness.MarkerPath, ours.URL("dev")+harness.MarkerPath
	harness.WaitBody(b, 5*time.Minute, theirURL, b.marker(theirRepo))
	harness.WaitBody(b, 5*time.Minute, ourURL, b.marker(b.repo))
	b.measureReloads(theirRepo, theirURL, 2) // warm up
	b.measureReloads(b.repo, ourURL, 2)

	// Two clients: one asking every 5 ms, as (a) does, and a light one,
	// every 50 ms, like a person reloading a page. While a build compiles,
	// the loop of this revision answers from the old server, whose answers
	// take CPU from the build; a loop that refuses them does not pay that.
	// The light client shows what the loop itself adds.
	b.Logf("baseline: %d edits in each, in turn, with two clients", b.edits)
	intervals := []time.Duration{5 * time.Millisecond, 50 * time.Millisecond}
	theirTimes, ourTimes := map[time.Duration][]time.Duration{}, map[time.Duration][]time.Duration{}
	reload := func(repo, url string, every time.Duration) time.Duration {
		took := harness.WaitBodyEvery(b, time.Minute, every, url, b.edit(repo))
		time.Sleep(300 * time.Millisecond) // let the new server settle
		return took
	}
	for i := range b.edits {
		for _, every := range intervals {
			// Each goes first every other edit: neither always follows
			// the other's build.
			if i%2 == 0 {
				theirTimes[every] = append(theirTimes[every], reload(theirRepo, theirURL, every))
				ourTimes[every] = append(ourTimes[every], reload(b.repo, ourURL, every))
			} else {
				ourTimes[every] = append(ourTimes[every], reload(b.repo, ourURL, every))
				theirTimes[every] = append(theirTimes[every], reload(theirRepo, theirURL, every))
			}
		}
	}
	theirs.Compose("down", "--volumes")

	title := fmt.Sprintf("9. Reload beside %s: save → new response, %d edits each, in turn", rev, b.edits)
	for _, every := range intervals {
		client := fmt.Sprintf("a client asking every %s", every)
		b.add(title, fmt.Sprintf("the dev container of %s, %s", rev, client), stats(theirTimes[every]), "BENCH_BASELINE")
		b.add(title, "this copy's dev container, "+client, stats(ourTimes[every]), "")
		b.add(title, fmt.Sprintf("this − %s (median), %s", rev, client), round(median(ourTimes[every])-median(theirTimes[every])).String(),
			"what the change adds to a reload; goal ≤ 50ms")
	}
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
