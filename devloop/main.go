// Command devloop is the dev container's supervisor: the one process that
// owns the edit loop's sockets and servers. air watches app/ and, on every
// save, runs `devloop notify`; devloop then builds the new code while the
// old server goes on serving, starts the new build on a port of its own,
// switches the front (the published port, :1323) over to it once it
// answers, and lets the old one drain. A client never finds the port closed.
// In the debug service every build runs under a delve of its own, and the
// debug port (:2345) keeps the editor's one session across them.
//
//	save → air → devloop notify ─┐
//	                             ▼
//	      devloop: go build ─ start ─ answers? ─ switch the front ─ drain the old one
//	                ▲  a newer save cancels the build under way
//
// Read it top-down: run (this file) wires the parts and the way out; loop.go
// is the reload itself; front.go the published port, longlived.go its
// event streams and WebSockets, clients.go its client connections for the
// way out; relay.go the debug port; server.go
// how a build's server starts and stops, with or without delve; watch.go
// starts air and takes its notifications; poll.go notices a mount that
// sends no file events, and polls it; browser.go tells the open pages of
// each reload and failure, and inject.go puts its script into each page.
//
// Words for ending things, one concept each: a server is stopped (Stop:
// asked to drain, then killed at a bound) and drains (answers what it
// has, then exits); a replaced server is retired (stopped in the
// background, once the front has let go of it: waitUnused); the front
// shuts down (as net/http's Shutdown); a long-lived stream is ended; a
// socket is closed; the way out is devloop's own stop, and its bound, or
// a second signal, cuts every drain short. Halted means only one thing:
// an app held at a breakpoint.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "devloop: %v\n", err)
		os.Exit(1)
	}
}

// config is what devloop reads from its environment; compose.yaml and the
// dev image set it.
type config struct {
	Dir         string // DEVLOOP_DIR: builds and the control socket (a tmpfs)
	Listen      string // DEVLOOP_LISTEN: the front, the address compose publishes
	DebugListen string // DLV_LISTEN: set in the debug service; every build runs under delve
	GCFlags     string // DEV_GCFLAGS: the dev image's compiler flags (docker/Dockerfile)
	Package     string // what to build, relative to the working directory
	Watched     string // the directory air watches (.air.toml's include_dir)
	// How long an old server may take to drain before it is killed, and
	// the bound of the whole way out (compose.yaml's stop_grace_period is
	// above it).
	Drain time.Duration
	// AIR_POLL: "true" polls from the start, "false" never; unset, devloop
	// finds out whether the mount sends file events (poll.go).
	Poll string
	// DEVLOOP_BROWSER: "off" passes every response as the app sent it: no
	// script in pages, no stale-build header (browser.go).
	Browser bool
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		Dir:         or(getenv("DEVLOOP_DIR"), "/tmp/devloop"),
		Listen:      or(getenv("DEVLOOP_LISTEN"), ":1323"),
		DebugListen: getenv("DLV_LISTEN"),
		GCFlags:     getenv("DEV_GCFLAGS"),
		Package:     "./app",
		Watched:     "app",
		Poll:        getenv("AIR_POLL"),
	}
	switch v := getenv("DEVLOOP_BROWSER"); v {
	case "", "on":
		cfg.Browser = true
	case "off":
	default:
		return cfg, fmt.Errorf("DEVLOOP_BROWSER=%q: want on (or unset) or off", v)
	}
	if cfg.Poll != "" && cfg.Poll != "true" && cfg.Poll != "false" {
		return cfg, fmt.Errorf("AIR_POLL=%q: want true, false, or unset to let devloop find out", cfg.Poll)
	}
	// The app's own drain bound (SHUTDOWN_TIMEOUT, 5 s by default in
	// app/config.go), plus a second for it to exit.
	shutdownTimeout := 5 * time.Second
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("SHUTDOWN_TIMEOUT=%q: want a positive duration such as 3s", v)
		}
		shutdownTimeout = d
	}
	cfg.Drain = shutdownTimeout + time.Second
	return cfg, nil
}

func or(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}

// run is devloop with its dependencies passed in. `devloop notify` is what
// air runs on a save; `devloop [air flags]` is the container's command.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	control := filepath.Join(cfg.Dir, "control.sock")
	if len(args) > 1 && args[1] == "notify" {
		return notify(ctx, control)
	}

	// The first SIGINT or SIGTERM begins the way out; a second ends it at
	// once.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey {
				return slog.Attr{} // every line is devloop's own news, at one level
			}
			return a
		},
	})).With("from", "devloop")
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}

	// The published port, open from the first moment: requests wait there
	// for the first build rather than being refused.
	front := newFront(logger)
	var browser *browsers
	if cfg.Browser {
		browser = newBrowsers(logger, workingDir())
	}
	browser.attach(front)
	frontListener, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	go front.serve(frontListener)
	defer front.close()

	launch := launcher{stdout: stdout, stderr: stderr}
	var debugger *relay
	if cfg.DebugListen != "" {
		launch.debug = true
		debugListener, err := net.Listen("tcp", cfg.DebugListen)
		if err != nil {
			return err
		}
		debugger = newRelay(debugListener, cfg.Watched, logger)
		defer debugger.close()
	}

	changes, closeControl, err := listenForChanges(control)
	if err != nil {
		return err
	}
	defer closeControl()

	loop := &loop{
		builder: goBuild{pkg: cfg.Package, gcflags: cfg.GCFlags, dwarf: launch.debug, output: stderr},
		launch:  browser.capture(launch),
		dir:     filepath.Join(cfg.Dir, "builds"),
		log:     logger,
		drain:   cfg.Drain,
		// The debugger first: the breakpoints are set in the new build
		// before it gets a request.
		serving: func(s server) {
			if debugger != nil {
				debugger.switchTo(s.DebugAddr())
			}
			front.switchTo(s)
		},
		unused: func(ctx context.Context, s server) { front.waitUnused(ctx, s, time.Second) },
	}
	loop.browser = browser
	if debugger != nil {
		loop.console = debugger.console
		loop.compiling = debugger.compiling
	}

	airExited, stopAir, err := startAir(args[1:], stdout, stderr)
	if err != nil {
		return err
	}
	running, stopRunning := context.WithCancel(context.Background())
	if cfg.Poll != "false" {
		go pollIfNoEvents(running, cfg.Watched, cfg.Poll == "true", changes, logger, fsnotifyEvents)
	}
	if err := watchNewDirs(running, cfg.Watched, changes); err != nil {
		logger.Info("could not watch for new directories: a file created in a new one reloads at the next save", "error", err)
	}
	watchModuleFiles(running, []string{"go.mod", "go.sum"}, logger)
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); loop.run(running, changes) }()

	var airErr error
	select {
	case <-signals:
	case <-ctx.Done():
	case err := <-airExited:
		airErr = fmt.Errorf("air exited: %v", err)
	}
	return wayOut(cfg.Drain, signals, logger, airErr, func(ctx context.Context) (drained bool) {
		stopRunning()
		<-loopDone // no build under way, and none starts
		var wg sync.WaitGroup
		wg.Go(func() { stopAir(ctx) })
		wg.Go(func() { front.shutdown(ctx) })
		wg.Go(func() { drained = loop.stop(ctx) })
		wg.Wait()
		return drained
	})
}

// wayOut runs stop, every part of the way out at the same time (air, the
// front's drain, the servers' drains), with one bound: the app's drain and
// a second to exit (below compose.yaml's stop_grace_period, so that Docker
// never has to kill). What is left when it comes is killed; a second signal
// brings it at once. stop says whether every server drained (one still
// draining after a reload may reach its own drain bound first). Its last
// line says which.
func wayOut(bound time.Duration, signals <-chan os.Signal, logger *slog.Logger, err error, stop func(context.Context) (drained bool)) error {
	begun := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	second := make(chan struct{})
	go func() {
		select {
		case <-signals:
			close(second)
			cancel()
		case <-ctx.Done():
		}
	}()
	drained := stop(ctx)
	took := time.Since(begun).Round(time.Millisecond)
	select {
	case <-second:
		logger.Info("stopped at once on a second signal: the servers were killed", "took", took)
		return errors.Join(err, errors.New("stopped by a second signal, without draining"))
	default:
	}
	switch {
	case ctx.Err() != nil:
		logger.Info("stopped: the bound came before every request was answered; what was left was killed", "took", took, "bound", bound)
	case !drained:
		logger.Info("stopped: a server did not drain in its own time and was killed (its line is above)", "took", took)
	default:
		logger.Info("stopped: everything ended by itself within the bound", "took", took)
	}
	return err
}
