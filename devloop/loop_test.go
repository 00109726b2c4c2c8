package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeBuilder builds by writing the source it is given into out; a build
// blocks until the test releases it, and fails when the source says so.
type fakeBuilder struct {
	source  func() string
	release chan struct{} // one value per build allowed to finish
	started chan string   // the source each build started with
	fail    error         // a failure with no compiler output, when set
}

func (b *fakeBuilder) build(ctx context.Context, out string) error {
	src := b.source()
	b.started <- src
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if b.fail != nil {
		return b.fail
	}
	if strings.Contains(src, "syntax error") {
		return &buildError{err: errors.New("exit status 1"), messages: "app/handlers.go:1:1: syntax error\n"}
	}
	return os.WriteFile(out, []byte(src), 0o644)
}

// fakeServer is a started build; it serves the content of its binary.
type fakeServer struct {
	version string
	exitErr error // exits with this before serving, when set
	// Stop drains at once, unless hangs: then it drains only when its ctx
	// ends (it is killed).
	hangs   bool
	stopped chan struct{} // closed when Stop is called
	// held, when set, holds Wait after the exit until closed: a real
	// server's exit shows in Done before Wait, which polls, sees it.
	held chan struct{}
	done chan struct{}
	once sync.Once
	err  error // how it exited, once done is closed
}

func (s *fakeServer) Addr() string          { return s.version }
func (s *fakeServer) DebugAddr() string     { return "" }
func (s *fakeServer) Done() <-chan struct{} { return s.done }
func (s *fakeServer) Err() error            { return s.err }
func (s *fakeServer) Wait(ctx context.Context) error {
	if s.exitErr != nil {
		s.exit(s.exitErr)
		if s.held != nil {
			<-s.held
		}
		return fmt.Errorf("exited before it served: %v", s.exitErr)
	}
	return nil
}
func (s *fakeServer) Stop(ctx context.Context) error {
	close(s.stopped)
	if s.hangs {
		<-ctx.Done()
		s.exit(errors.New("signal: killed"))
		return errNotDrained
	}
	s.exit(nil)
	return nil
}

// exit ends the server as the process would, with err as its status.
func (s *fakeServer) exit(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// loopTest runs a loop with the fakes; serving is what the front points at.
type loopTest struct {
	t        *testing.T
	mu       sync.Mutex
	source   string
	serving  []string // every server the front was pointed at, in order
	unused   []string // every server waited for before its drain, in order
	launched []*fakeServer
	builder  *fakeBuilder
	changes  chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	exitNext error         // the next server launched exits with it before serving
	holdWait chan struct{} // and its Wait returns only once this is closed
	hangNext bool          // the next server launched does not drain until killed
	dir      string        // where the loop keeps its builds
	loop     *loop
	log      *syncBuffer
	console  []string
	// unusedHolds: the front goes on using every server it was switched
	// away from (its wait ends only with the way out's bound).
	unusedHolds   bool
	releaseUnused chan struct{} // when closed, ends those waits
	// holdSwitch, when set, holds each switch of the front until a value
	// comes.
	holdSwitch chan struct{}
}

// syncBuffer is a log the loop's goroutines write while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startLoop(t *testing.T, source string) *loopTest {
	lt := &loopTest{t: t, source: source, changes: make(chan struct{}, 1), done: make(chan struct{}), dir: t.TempDir(), log: &syncBuffer{}}
	lt.builder = &fakeBuilder{
		source:  func() string { lt.mu.Lock(); defer lt.mu.Unlock(); return lt.source },
		release: make(chan struct{}, 100),
		started: make(chan string, 100),
	}
	lt.loop = &loop{
		builder: lt.builder,
		launch: func(bin string) (server, error) {
			data, err := os.ReadFile(bin)
			if err != nil {
				return nil, err
			}
			lt.mu.Lock()
			defer lt.mu.Unlock()
			s := &fakeServer{version: string(data), exitErr: lt.exitNext, held: lt.holdWait, hangs: lt.hangNext,
				stopped: make(chan struct{}), done: make(chan struct{})}
			lt.exitNext, lt.holdWait, lt.hangNext = nil, nil, false
			lt.launched = append(lt.launched, s)
			return s, nil
		},
		dir:   lt.dir,
		log:   slog.New(slog.NewTextHandler(lt.log, nil)),
		drain: time.Hour, // a fake server drains at once, or only when killed
		serving: func(s server) {
			lt.mu.Lock()
			hold := lt.holdSwitch
			lt.mu.Unlock()
			if hold != nil {
				<-hold
			}
			lt.mu.Lock()
			lt.serving = append(lt.serving, s.Addr())
			lt.mu.Unlock()
		},
		unused: func(ctx context.Context, s server) {
			lt.mu.Lock()
			if isClosed(s.(*fakeServer).stopped) {
				lt.t.Errorf("%s was stopped before the front stopped using it", s.Addr())
			}
			lt.unused = append(lt.unused, s.Addr())
			holds, release := lt.unusedHolds, lt.releaseUnused
			lt.mu.Unlock()
			if holds {
				select {
				case <-ctx.Done():
				case <-release:
				}
			}
		},
		console: func(category, text string) {
			lt.mu.Lock()
			defer lt.mu.Unlock()
			lt.console = append(lt.console, category+": "+text)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	lt.cancel = cancel
	go func() { defer close(lt.done); lt.loop.run(ctx, lt.changes) }()
	t.Cleanup(lt.stop)
	return lt
}

// save changes the source and notifies the loop, as air does.
func (lt *loopTest) save(source string) {
	lt.mu.Lock()
	lt.source = source
	lt.mu.Unlock()
	select {
	case lt.changes <- struct{}{}:
	default:
	}
}

// buildStarts waits for the next build to start and returns its source.
func (lt *loopTest) buildStarts() string {
	lt.t.Helper()
	select {
	case src := <-lt.builder.started:
		return src
	case <-time.After(5 * time.Second):
		lt.t.Fatal("no build started")
		return ""
	}
}

func (lt *loopTest) finishBuild() { lt.builder.release <- struct{}{} }

// build saves source and lets its build finish.
func (lt *loopTest) build(source string) {
	lt.t.Helper()
	lt.save(source)
	lt.buildStarts()
	lt.finishBuild()
}

// reload saves version and lets its build finish: it serves.
func (lt *loopTest) reload(version string) {
	lt.t.Helper()
	lt.build(version)
	lt.servingEventually(version)
}

// servingEventually waits until the front points at want.
func (lt *loopTest) servingEventually(want string) {
	lt.t.Helper()
	eventually(lt.t, fmt.Sprintf("the front to point at %q", want), func() bool {
		now := lt.servingNow()
		return len(now) > 0 && now[len(now)-1] == want
	})
}

func (lt *loopTest) servingNow() []string {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return append([]string(nil), lt.serving...)
}

// server is the server launched for version, waiting for its launch.
func (lt *loopTest) server(version string) *fakeServer {
	lt.t.Helper()
	var launched *fakeServer
	eventually(lt.t, fmt.Sprintf("a server of %q to be launched", version), func() bool {
		lt.mu.Lock()
		defer lt.mu.Unlock()
		for _, s := range lt.launched {
			if s.version == version && launched == nil {
				launched = s
			}
		}
		return launched != nil
	})
	return launched
}

// stop ends the loop and stops its servers, as devloop's way out does.
func (lt *loopTest) stop() {
	lt.stopWithin(context.Background())
}

func (lt *loopTest) stopWithin(ctx context.Context) {
	lt.cancel()
	<-lt.done
	lt.loop.stop(ctx)
}

// TestLoopSwitchesToTheNewBuildThenDrainsTheOld: the old server is stopped
// only once the front points at the new one and no longer uses the old.
// The switch is held while everything else that could run runs
// (synctest.Wait): a stop of the old server before it would show then.
func TestLoopSwitchesToTheNewBuildThenDrainsTheOld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, "v1")
		lt.reload("v1")

		hold := make(chan struct{})
		lt.mu.Lock()
		lt.holdSwitch = hold
		lt.mu.Unlock()
		lt.save("v2")
		lt.buildStarts()
		if isClosed(lt.server("v1").stopped) {
			t.Fatal("the old server was stopped while the new build compiled")
		}
		lt.finishBuild()
		synctest.Wait() // the loop is at the switch to v2, and nothing else can move
		if isClosed(lt.server("v1").stopped) {
			t.Fatal("the old server was stopped before the front switched to the new one")
		}
		close(hold)
		lt.servingEventually("v2")
		eventually(t, "the old server to be stopped", func() bool { return isClosed(lt.server("v1").stopped) })
		lt.mu.Lock()
		defer lt.mu.Unlock()
		if len(lt.unused) != 1 || lt.unused[0] != "v1" {
			t.Fatalf("servers waited for before their drain: %v; want v1", lt.unused)
		}
	})
}

func TestLoopCompileErrorKeepsTheLastGoodBuild(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.reload("v1")

	lt.build("v2 syntax error")
	eventually(t, "a line saying the build failed and the last good one serves", func() bool {
		return strings.Contains(lt.log.String(), "the build failed; the last good build serves until the next save")
	})
	lt.save("v3")
	lt.buildStarts()
	// The failed build touched nothing: v1 served throughout.
	if got := lt.servingNow(); len(got) != 1 || isClosed(lt.server("v1").stopped) {
		t.Fatalf("after a failed build the front pointed at %v; v1 stopped: %v", got, isClosed(lt.server("v1").stopped))
	}
	lt.finishBuild()
	lt.servingEventually("v3")
}

// TestLoopBuildFailureWithoutCompilerOutputSaysWhy: a build that fails
// before the compiler says anything (no go command, a full disk) logs its
// own error; a compiler's failure goes to the debug console with its
// messages.
func TestLoopBuildFailureWithoutCompilerOutputSaysWhy(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.reload("v1")
	lt.builder.fail = errors.New(`exec: "go": executable file not found in $PATH`)
	lt.build("v2")
	// The console's line comes after the log's: both are there once it is.
	eventually(t, "the build's failure in the debug console", func() bool {
		lt.mu.Lock()
		defer lt.mu.Unlock()
		return len(lt.console) >= 2
	})
	if log := lt.log.String(); !strings.Contains(log, `executable file not found`) {
		t.Errorf("a build that failed with no compiler output logged no reason:\n%s", log)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if len(lt.console) < 2 || !strings.Contains(lt.console[1], "executable file not found") {
		t.Errorf("the debug console got %q; want the build's error", lt.console)
	}
}

func TestLoopBurstEndsWithOneServerOfTheLastSave(t *testing.T) {
	lt := startLoop(t, "v0")
	lt.reload("v0")

	// Ten saves, each while the build of the one before is under way.
	for i := 1; i <= 10; i++ {
		lt.save(fmt.Sprintf("burst %d", i))
		lt.buildStarts()
	}
	lt.finishBuild()
	lt.servingEventually("burst 10")
	lt.stop()
	if got := lt.servingNow(); len(got) != 2 {
		t.Errorf("the front was pointed at %v; want v0, then only the last save", got)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if len(lt.launched) != 2 {
		t.Errorf("%d servers launched; want 2: a superseded build is never started", len(lt.launched))
	}
}

// TestLoopBuildThatExitsBeforeServingLeavesTheOld: the old build serves on,
// and the log has one line for it, which says so and names the exit status
// (no line saying a serving server exited).
func TestLoopBuildThatExitsBeforeServingLeavesTheOld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, "v1")
		lt.reload("v1")

		held := make(chan struct{})
		lt.mu.Lock()
		lt.exitNext, lt.holdWait = errors.New("exit status 2"), held
		lt.mu.Unlock()
		lt.build("v2")
		synctest.Wait() // v2 has exited, and whatever watches its exit has run
		close(held)
		synctest.Wait() // the loop has seen it too
		if got := lt.servingNow(); len(got) != 1 || isClosed(lt.server("v1").stopped) {
			t.Fatalf("a build that exited before serving took over: front %v", got)
		}
		log := lt.log.String()
		if n := strings.Count(log, "build=2"); n != 1 ||
			!strings.Contains(log, `msg="the new build exited before it served; the last good build serves until the next save" build=2 status="exit status 2" serving=1`) {
			t.Errorf("want one line for build 2, saying it exited before it served, with its status, and that build 1 serves:\n%s", log)
		}
		lt.reload("v3")
	})
}

func TestLoopFirstBuildThatExitsBeforeServingSaysNothingServes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, "v1")
		lt.mu.Lock()
		lt.exitNext = errors.New("exit status 2")
		lt.mu.Unlock()
		lt.build("v1")
		synctest.Wait()
		if log := lt.log.String(); !strings.Contains(log, "nothing serves until a save that starts") || strings.Contains(log, "last good build") {
			t.Errorf("with no build before, the line must say nothing serves:\n%s", log)
		}
	})
}

// TestLoopSaysHowAServerExitedByItself: a crash or an os.Exit is logged
// with the exit status; a server devloop stopped is not reported.
func TestLoopSaysHowAServerExitedByItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lt := startLoop(t, "v1")
		lt.reload("v1")
		lt.reload("v2") // v1 is stopped: no crash
		lt.server("v2").exit(errors.New("exit status 3"))
		synctest.Wait()
		log := lt.log.String()
		if !strings.Contains(log, `msg="the server exited by itself; the next save starts a new build" build=2 status="exit status 3"`) {
			t.Errorf("no line names the crashed server and its exit status:\n%s", log)
		}
		if strings.Contains(log, "build=1 status") {
			t.Errorf("the server devloop stopped was reported as a crash:\n%s", log)
		}
	})
}

func TestLoopStopDrainsEveryServer(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.reload("v1")
	lt.stop()
	if !isClosed(lt.server("v1").stopped) || !isClosed(lt.server("v1").done) {
		t.Fatal("the serving build was not stopped when the loop ended")
	}
}

// TestLoopStopHasOneBound: when stop's ctx ends, every server still there
// is killed, the one serving and one still draining after a reload, and
// stop returns, though each would drain for an hour (the loop's drain).
func TestLoopStopHasOneBound(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.mu.Lock()
	lt.hangNext = true
	lt.mu.Unlock()
	lt.reload("v1")
	lt.mu.Lock()
	lt.hangNext = true
	lt.mu.Unlock()
	lt.reload("v2")
	eventually(t, "v1 to be draining", func() bool { return isClosed(lt.server("v1").stopped) })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); lt.stopWithin(ctx) }()
	eventually(t, "v2 to be draining", func() bool { return isClosed(lt.server("v2").stopped) })
	cancel() // the bound
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return when its bound came: a drain went on")
	}
	for _, v := range []string{"v1", "v2"} {
		if !isClosed(lt.server(v).done) {
			t.Errorf("%s was still running when stop returned", v)
		}
	}
	if log := lt.log.String(); strings.Count(log, "a server ended without draining") != 2 {
		t.Errorf("want a line for each server killed:\n%s", log)
	}
}

// TestLoopStopsWaitingForTheFrontWhenTheBoundComes: a server the front
// still uses is waited for before its drain, but that wait ends with the
// way out's bound too (a second signal ends it at once).
func TestLoopStopsWaitingForTheFrontWhenTheBoundComes(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.mu.Lock()
	lt.unusedHolds = true
	lt.mu.Unlock()
	lt.reload("v1")
	lt.reload("v2")
	eventually(t, "v1 to be waited for", func() bool {
		lt.mu.Lock()
		defer lt.mu.Unlock()
		return len(lt.unused) == 1
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); lt.stopWithin(ctx) }()
	cancel() // the bound
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return when its bound came: the wait for the front went on")
	}
	if !isClosed(lt.server("v1").done) {
		t.Error("v1 was still running when stop returned")
	}
}

// TestLoopStopSaysWhetherEveryServerDrained: a server still waiting for
// its drain after a reload, which reaches its own drain bound during stop,
// is killed, and stop says so, though stop's bound never came.
func TestLoopStopSaysWhetherEveryServerDrained(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.loop.drain = time.Millisecond // every server's own drain bound
	lt.mu.Lock()
	lt.hangNext, lt.unusedHolds, lt.releaseUnused = true, true, make(chan struct{})
	lt.mu.Unlock()
	lt.reload("v1")
	lt.reload("v2")
	lt.cancel()
	<-lt.done
	drained := make(chan bool, 1)
	go func() { drained <- lt.loop.stop(context.Background()) }()
	eventually(t, "stop to stop v2", func() bool { return isClosed(lt.server("v2").stopped) })
	close(lt.releaseUnused) // v1 drains now, and is killed at its bound
	if <-drained {
		t.Error("stop said every server drained; v1 was killed at its drain bound")
	}

	lt = startLoop(t, "v1")
	lt.reload("v1")
	lt.reload("v2")
	lt.cancel()
	<-lt.done
	if !lt.loop.stop(context.Background()) {
		t.Error("stop said a server did not drain; both did")
	}
}

func TestLoopRemovesTheBuildsOfGoneServers(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.reload("v1")
	lt.build("v2 syntax error")
	lt.reload("v3")
	lt.stop()
	if left, _ := os.ReadDir(lt.dir); len(left) != 0 {
		t.Errorf("builds left after every server stopped: %v", left)
	}
}
