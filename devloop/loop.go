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
	// Stop lets it drain its requests and end, and returns once it is gone;
	// the error says why it did not drain.
	Stop() error
	Done() <-chan struct{} // closed when the process has exited
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
	dir     string       // a directory per build, removed when its server is gone
	log     *slog.Logger // one line per reload
	serving func(server) // points the fronts at the server taking over
	// unused waits until the fronts no longer use a server they were
	// switched away from, so that it may drain; nil: no wait.
	unused func(server)
	// compiling, when set, is called as each build starts compiling: the
	// debugger notes the source version that build runs (relay.compiling).
	compiling func()
	// say puts a line in the attached editors' debug consoles (the debug
	// service); category is DAP's: console or stderr. nil: nowhere.
	say     func(category, text string)
	current *generation    // the build serving now; nil before the first
	builds  int            // builds started, to number them
	retired sync.WaitGroup // servers draining
}

// generation is one build and, once started, its server.
type generation struct {
	n       int
	dir     string
	server  server
	retired atomic.Bool // replaced or stopped: its exit is expected
}

// run reloads on every value from changes until ctx ends, then stops every
// server, letting each drain, and returns when all are gone.
func (l *loop) run(ctx context.Context, changes <-chan struct{}) {
	defer l.stopAll()
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

// reload makes one attempt and reports whether a newer change superseded it.
func (l *loop) reload(ctx context.Context, changes <-chan struct{}) (superseded bool) {
	l.builds++
	g := &generation{n: l.builds, dir: filepath.Join(l.dir, strconv.Itoa(l.builds))}
	bin := filepath.Join(g.dir, "app")
	start := time.Now()
	if l.compiling != nil {
		l.compiling()
	}
	err, superseded := l.build(ctx, changes, bin)
	if superseded || ctx.Err() != nil {
		_ = os.RemoveAll(g.dir)
		return superseded
	}
	built := time.Since(start)
	if err != nil {
		_ = os.RemoveAll(g.dir)
		var messages string
		if be, ok := errors.AsType[*buildError](err); ok {
			messages = be.messages
		}
		if l.current != nil {
			l.log.Info("the build failed; the last good build serves until the next save", "serving", l.current.n)
			l.tell("stderr", fmt.Sprintf("%sdevloop: the build failed; build %d serves until the next save", messages, l.current.n))
		} else {
			l.log.Info("the build failed; nothing serves until a save that compiles")
		}
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
	go l.watch(g)
	err, superseded = l.waitServing(ctx, changes, s)
	if superseded || ctx.Err() != nil || err != nil {
		if err != nil && ctx.Err() == nil {
			l.log.Info("the new build exited before it served; the last good build serves until the next save",
				"build", g.n, "error", err)
			l.tell("stderr", fmt.Sprintf("devloop: build %d exited before it served (%v); see the container's log", g.n, err))
		}
		l.retire(g, nil)
		return superseded
	}

	l.serving(s)
	old := l.current
	l.current = g
	started := time.Since(start)
	attrs := []any{"build", g.n, "compiled", built.Round(time.Millisecond), "started", started.Round(time.Millisecond)}
	if old != nil {
		attrs = append(attrs, "draining", old.n)
		l.retire(old, l.unused)
	}
	l.log.Info("serving", attrs...)
	l.tell("console", fmt.Sprintf("devloop: build %d serving (compiled in %s, started in %s)", g.n,
		built.Round(time.Millisecond), started.Round(time.Millisecond)))
	return false
}

func (l *loop) tell(category, text string) {
	if l.say != nil {
		l.say(category, text)
	}
}

// build runs the builder, cancelling it when a change comes in.
func (l *loop) build(ctx context.Context, changes <-chan struct{}, out string) (err error, superseded bool) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err, false
	}
	return unlessChanged(ctx, changes, func(ctx context.Context) error { return l.builder.build(ctx, out) })
}

// waitServing waits for s to accept connections, giving up when a change
// comes in.
func (l *loop) waitServing(ctx context.Context, changes <-chan struct{}, s server) (err error, superseded bool) {
	return unlessChanged(ctx, changes, s.Wait)
}

// unlessChanged runs work, cancelling it when a change comes in first, and
// says which came first.
func unlessChanged(ctx context.Context, changes <-chan struct{}, work func(context.Context) error) (err error, superseded bool) {
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- work(workCtx) }()
	select {
	case err := <-done:
		return err, false
	case <-changes:
		cancel()
		<-done
		return nil, true
	}
}

// retire stops g's server in the background, draining it, and removes its
// build once it is gone. unused, when given, is waited for first.
func (l *loop) retire(g *generation, unused func(server)) {
	g.retired.Store(true)
	l.retired.Add(1)
	go func() {
		defer l.retired.Done()
		if unused != nil {
			unused(g.server)
		}
		if err := g.server.Stop(); err != nil {
			l.log.Info("a server ended without draining", "build", g.n, "reason", err)
		}
		_ = os.RemoveAll(g.dir)
	}()
}

// watch says so when a server exits that nothing stopped: a crash, or an
// os.Exit in the app. The front answers 502 until the next save.
func (l *loop) watch(g *generation) {
	<-g.server.Done()
	if !g.retired.Load() {
		l.log.Info("the server exited by itself; the next save starts a new one", "build", g.n)
	}
}

func (l *loop) stopAll() {
	if l.current != nil {
		l.retire(l.current, nil)
	}
	l.retired.Wait()
}
