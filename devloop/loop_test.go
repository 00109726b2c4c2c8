package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBuilder builds by writing the source it is given into out; a build
// blocks until the test releases it, and fails when the source says so.
type fakeBuilder struct {
	source  func() string
	release chan struct{} // one value per build allowed to finish
	started chan string   // the source each build started with
}

func (b *fakeBuilder) build(ctx context.Context, out string) error {
	src := b.source()
	b.started <- src
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if strings.Contains(src, "syntax error") {
		return errors.New("does not compile")
	}
	return os.WriteFile(out, []byte(src), 0o644)
}

// fakeServer is a started build; it serves the content of its binary.
type fakeServer struct {
	version string
	exitErr error // exits with this before serving, when set
	stopped chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (s *fakeServer) Addr() string          { return s.version }
func (s *fakeServer) DebugAddr() string     { return "" }
func (s *fakeServer) Done() <-chan struct{} { return s.done }
func (s *fakeServer) Wait(ctx context.Context) error {
	if s.exitErr != nil {
		s.once.Do(func() { close(s.done) })
		return s.exitErr
	}
	return nil
}
func (s *fakeServer) Stop() error {
	close(s.stopped)
	s.once.Do(func() { close(s.done) })
	return nil
}

// loopTest runs a loop with the fakes; serving is what the front points at.
type loopTest struct {
	t        *testing.T
	mu       sync.Mutex
	source   string
	serving  []string // every server the front was pointed at, in order
	launched []*fakeServer
	builder  *fakeBuilder
	changes  chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	exitNext error  // the next server launched exits with it before serving
	dir      string // where the loop keeps its builds
}

func startLoop(t *testing.T, source string) *loopTest {
	lt := &loopTest{t: t, source: source, changes: make(chan struct{}, 1), done: make(chan struct{}), dir: t.TempDir()}
	lt.builder = &fakeBuilder{
		source:  func() string { lt.mu.Lock(); defer lt.mu.Unlock(); return lt.source },
		release: make(chan struct{}, 100),
		started: make(chan string, 100),
	}
	l := &loop{
		builder: lt.builder,
		launch: func(bin string) (server, error) {
			data, err := os.ReadFile(bin)
			if err != nil {
				return nil, err
			}
			lt.mu.Lock()
			defer lt.mu.Unlock()
			s := &fakeServer{version: string(data), exitErr: lt.exitNext, stopped: make(chan struct{}), done: make(chan struct{})}
			lt.exitNext = nil
			lt.launched = append(lt.launched, s)
			return s, nil
		},
		dir:     lt.dir,
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		serving: func(s server) { lt.mu.Lock(); lt.serving = append(lt.serving, s.Addr()); lt.mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	lt.cancel = cancel
	go func() { defer close(lt.done); l.run(ctx, lt.changes) }()
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

func (lt *loopTest) stop() {
	lt.cancel()
	<-lt.done
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestLoopSwitchesToTheNewBuildThenDrainsTheOld(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.reload("v1")

	lt.save("v2")
	lt.buildStarts()
	if isClosed(lt.server("v1").stopped) {
		t.Fatal("the old server was stopped before the new build was ready")
	}
	lt.finishBuild()
	lt.servingEventually("v2")
	eventually(t, "the old server to be stopped", func() bool { return isClosed(lt.server("v1").stopped) })
}

func TestLoopCompileErrorKeepsTheLastGoodBuild(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.reload("v1")

	lt.build("v2 syntax error")
	lt.save("v3")
	lt.buildStarts()
	// The failed build touched nothing: v1 served throughout.
	if got := lt.servingNow(); len(got) != 1 || isClosed(lt.server("v1").stopped) {
		t.Fatalf("after a failed build the front pointed at %v; v1 stopped: %v", got, isClosed(lt.server("v1").stopped))
	}
	lt.finishBuild()
	lt.servingEventually("v3")
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

func TestLoopBuildThatExitsBeforeServingLeavesTheOld(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.reload("v1")

	lt.mu.Lock()
	lt.exitNext = errors.New("exit status 1")
	lt.mu.Unlock()
	lt.build("v2")
	// v2 exits; then v3 comes and takes over from v1.
	eventually(t, "v2 to exit", func() bool { return isClosed(lt.server("v2").done) })
	if got := lt.servingNow(); len(got) != 1 || isClosed(lt.server("v1").stopped) {
		t.Fatalf("a build that exited before serving took over: front %v", got)
	}
	lt.reload("v3")
}

func TestLoopStopDrainsEveryServer(t *testing.T) {
	lt := startLoop(t, "v1")
	lt.reload("v1")
	lt.stop()
	if !isClosed(lt.server("v1").stopped) {
		t.Fatal("the serving build was not stopped when the loop ended")
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
