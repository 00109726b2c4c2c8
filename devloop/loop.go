package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A builder compiles the app into the binary out.
type builder interface {
	build(ctx context.Context, out string) error
}

// A server is one build's running server (under delve in the debug
// service), on a port of its own.
type server interface {
	Addr() string      // host:port it serves HTTP on
	DebugAddr() string // host:port of its delve; empty without one
	// Wait returns nil once the server accepts connections, or an error when
	// it exits first or ctx ends.
	Wait(ctx context.Context) error
	// Stop lets it drain its requests and end, killing it when ctx ends
	// first, and returns once it is gone; the error says why it did not
	// drain.
	Stop(ctx context.Context) error
	Done() <-chan struct{} // closed when the process has exited
	Err() error            // once Done is closed: nil for exit status 0, else the status or signal
}

// loop is the reload: for each change, build while the current server goes
// on serving, start the new build, and once it answers, hand it the front
// and let the old one drain. A change while a build compiles or starts
// abandons that build for a new one, so a burst of saves ends with one
// server, of the last save. A build that fails, or exits before it serves,
// leaves the current server as it is.
type loop struct {
	builder builder
	launch  func(bin string) (server, error)
	dir     string        // a directory per build, removed when its server is gone
	log     *slog.Logger  // one line per reload
	drain   time.Duration // how long a replaced server may take to drain before it is killed
	serving func(server)  // points the fronts at the server taking over
	// unused waits until the fronts no longer use a server they were
	// switched away from, so that it may drain, or until ctx ends; nil: no
	// wait.
	unused func(ctx context.Context, s server)
	// compiling, when set, is called as each build starts compiling: the
	// debugger notes the source version that build runs (relay.compiling).
	compiling func()
	// console puts a line in the attached editors' debug consoles (the
	// debug service); category is DAP's: console or stderr. nil: nowhere.
	console  func(category, text string)
	current  *generation    // the build serving now; nil before the first
	builds   int            // builds started, to number them
	draining sync.WaitGroup // servers stopping
	killed   atomic.Int64   // servers that ended without draining
	// cut ends every drain under way at once, and the wait before it: the
	// way out's bound has come (stop). Made on first use, so that a loop
	// is ready as soon as it is declared.
	cut     context.Context
	cutNow  context.CancelFunc
	cutOnce sync.Once

	browser *browsers // the open pages: told of each switch and failure (browser.go); nil: none
}

// generation is one build and, once started, its server.
type generation struct {
	n      int
	dir    string
	server server
	// exitExpected is set once devloop stops it: its exit is no crash.
	exitExpected atomic.Bool
}

// run reloads on every value from changes until ctx ends. The servers go on
// running: stop ends them.
func (l *loop) run(ctx context.Context, changes <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
		}
		for l.reload(ctx, changes) {
			// A newer save came in: build again, from what is on disk now.
		}
	}
}

// stop stops every server, the one serving and those still draining after
// a reload, each draining, and returns once all are gone: those still
// there when ctx ends are killed. It says whether every server that ended
// meanwhile drained. Call it once run has returned.
func (l *loop) stop(ctx context.Context) (drained bool) {
	killed := l.killed.Load()
	defer func() { drained = l.killed.Load() == killed }()
	if l.current != nil {
		l.retire(l.current, nil)
		l.current = nil
	}
	defer context.AfterFunc(ctx, func() { l.drains(); l.cutNow() })()
	l.draining.Wait()
	return
}

// drains is the context every drain runs under, which stop's bound ends.
func (l *loop) drains() context.Context {
	l.cutOnce.Do(func() { l.cut, l.cutNow = context.WithCancel(context.Background()) })
	return l.cut
}

// reload makes one attempt and reports whether a newer change superseded it.
func (l *loop) reload(ctx context.Context, changes <-chan struct{}) (superseded bool) {
	l.builds++
	g := &generation{n: l.builds, dir: filepath.Join(l.dir, strconv.Itoa(l.builds))}
	bin := filepath.Join(g.dir, "app")
	start := time.Now()
	if l.compiling != nil {
		l.compiling()
	}
	superseded, err := l.build(ctx, changes, bin)
	if superseded || ctx.Err() != nil {
		_ = os.RemoveAll(g.dir)
		return superseded
	}
	built := time.Since(start)
	if err != nil {
		_ = os.RemoveAll(g.dir)
		l.buildFailed(err)
		return false
	}

	start = time.Now()
	s, err := l.launch(bin)
	if err != nil {
		l.log.Info("could not start the build", "build", g.n, "error", err)
		_ = os.RemoveAll(g.dir)
		return false
	}
	g.server = s
	superseded, err = l.waitServing(ctx, changes, s)
	if superseded || ctx.Err() != nil || err != nil {
		if err != nil && ctx.Err() == nil {
			l.startFailed(g)
		}
		l.retire(g, nil)
		return superseded
	}

	l.serving(s)
	l.browser.switched(g.n)
	old := l.current
	l.current = g
	go l.reportCrash(g)
	started := time.Since(start)
	attrs := []any{"build", g.n, "compiled", built.Round(time.Millisecond), "started", started.Round(time.Millisecond)}
	if old != nil {
		attrs = append(attrs, "draining", old.n)
		l.retire(old, l.unused)
	}
	l.log.Info("serving", attrs...)
	l.toConsole("console", fmt.Sprintf("devloop: build %d serving (compiled in %s, started in %s)", g.n,
		built.Round(time.Millisecond), started.Round(time.Millisecond)))
	return false
}

// buildFailed says so, with the compiler's messages in the debug console;
// a build that failed with no message from the compiler (no go command, a
// full disk) has its own error logged.
func (l *loop) buildFailed(err error) {
	var messages string
	if be, ok := errors.AsType[*buildError](err); ok {
		messages = be.messages
	}
	var attrs []any
	if messages == "" {
		attrs = append(attrs, "error", err)
		messages = err.Error() + "\n"
	}
	l.browser.failed(l.builds, fmt.Sprintf("build %d did not compile", l.builds), messages)
	if l.current == nil {
		l.log.Info("the build failed; nothing serves until a save that compiles", attrs...)
		return
	}
	l.log.Info("the build failed; the last good build serves until the next save", append(attrs, "serving", l.current.n)...)
	l.toConsole("stderr", fmt.Sprintf("%sdevloop: the build failed; build %d serves until the next save", messages, l.current.n))
}

// startFailed says that g, built, exited before it served; its own output,
// above in the log, says why. Wait returns an error only for that, or
// when ctx ends, which the caller has ruled out.
func (l *loop) startFailed(g *generation) {
	status := exitStatus(g.server.Err())
	l.browser.exited(g.n, g.server, status)
	if l.current == nil {
		l.log.Info("the new build exited before it served; nothing serves until a save that starts", "build", g.n, "status", status)
		return
	}
	l.log.Info("the new build exited before it served; the last good build serves until the next save",
		"build", g.n, "status", status, "serving", l.current.n)
	l.toConsole("stderr", fmt.Sprintf("devloop: build %d exited before it served (%s); build %d serves until the next save; see the container's log",
		g.n, status, l.current.n))
}

func (l *loop) toConsole(category, text string) {
	if l.console != nil {
		l.console(category, text)
	}
}

// build runs the builder, cancelling it when a change comes in.
func (l *loop) build(ctx context.Context, changes <-chan struct{}, out string) (superseded bool, err error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return false, err
	}
	return unlessChanged(ctx, changes, func(ctx context.Context) error { return l.builder.build(ctx, out) })
}

// waitServing waits for s to accept connections, giving up when a change
// comes in.
func (l *loop) waitServing(ctx context.Context, changes <-chan struct{}, s server) (superseded bool, err error) {
	return unlessChanged(ctx, changes, s.Wait)
}

// unlessChanged runs work, cancelling it when a change comes in first, and
// says which came first.
func unlessChanged(ctx context.Context, changes <-chan struct{}, work func(context.Context) error) (superseded bool, err error) {
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- work(workCtx) }()
	select {
	case err := <-done:
		return false, err
	case <-changes:
		cancel()
		<-done
		return true, nil
	}
}

// retire stops g's server in the background, letting it drain for up to
// l.drain (less when stop's bound comes first), and removes its build once
// it is gone. unused, when given, is waited for first, within stop's bound
// too.
func (l *loop) retire(g *generation, unused func(context.Context, server)) {
	g.exitExpected.Store(true)
	l.draining.Add(1)
	drains := l.drains()
	go func() {
		defer l.draining.Done()
		if unused != nil {
			unused(drains, g.server)
		}
		ctx, cancel := context.WithTimeout(drains, l.drain)
		defer cancel()
		if err := g.server.Stop(ctx); err != nil {
			l.killed.Add(1)
			l.log.Info("a server ended without draining", "build", g.n, "reason", err)
		}
		_ = os.RemoveAll(g.dir)
	}()
}

// reportCrash says so when the serving server g exits and nothing stopped
// it: a crash, or an os.Exit in the app. The front answers 502, naming the
// same exit status, until the next save.
func (l *loop) reportCrash(g *generation) {
	<-g.server.Done()
	if !g.exitExpected.Load() {
		l.log.Info("the server exited by itself; the next save starts a new build", "build", g.n, "status", exitStatus(g.server.Err()))
	}
}
