package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the app: with DEVLOOP_TEST_APP
// set it serves on PORT as the app does, draining on SIGINT ("serve"; GET
// /exit makes it exit with status 3, as an os.Exit in a handler would),
// exits at once with status 3 ("exit"), or serves and never drains
// ("hang"). Named dlv (on a PATH the test sets), it stands in for delve.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "dlv" {
		actLikeDelve(os.Args[1:])
		return
	}
	switch os.Getenv("DEVLOOP_TEST_APP") {
	case "serve":
		serveLikeTheApp(true)
		return
	case "hang":
		signal.Ignore(os.Interrupt)
		serveLikeTheApp(false)
		return
	case "exit":
		os.Exit(3)
	case "pause":
		// Takes a SIGINT, then stops, as an app does while a slow delve
		// passes the signal on.
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, os.Interrupt)
		if _, err := net.Listen("tcp", ":"+os.Getenv("PORT")); err != nil { // it is ready
			os.Exit(1)
		}
		<-signals
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		select {} // killed by the test
	}
	os.Exit(m.Run())
}

func serveLikeTheApp(drain bool) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })
	// The headers at once, the body 300 ms later: a client holding the
	// headers knows its request is under way.
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "sl")
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "ow")
	})
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			os.Exit(1)
		}
	}()
	if !drain {
		select {}
	}
	<-ctx.Done()
	_ = srv.Shutdown(context.Background()) // returns once the requests under way are answered
}

// actLikeDelve is what devloop relies on of `dlv exec bin --headless ...
// -- `: it starts bin as its child and outlives it; a signal of its own
// kills the child, no drain. It reaps its child only then, which lets
// devloop read the exit status of an app that exited (a real delve may
// reap it first: devloop then says it does not know the status).
func actLikeDelve(args []string) {
	app := exec.Command(args[1])
	app.Stdout, app.Stderr = os.Stdout, os.Stderr
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	if err := app.Start(); err != nil {
		os.Exit(1)
	}
	<-signals
	_ = app.Process.Kill()
	_ = app.Wait()
}

func testLauncher(t *testing.T, mode string) server {
	t.Helper()
	return launch(t, mode, false)
}

// launch starts the test binary as the app, in mode, under the stand-in
// for delve when debug is set.
func launch(t *testing.T, mode string, debug bool) server {
	t.Helper()
	t.Setenv("DEVLOOP_TEST_APP", mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if debug {
		bin := t.TempDir()
		if err := os.Symlink(exe, filepath.Join(bin, "dlv")); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	s, err := launcher{debug: debug, stdout: os.Stdout, stderr: os.Stderr}.start(exe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p := s.(*process)
		_ = p.cmd.Process.Kill()
		if debug {
			<-p.appFound
			if p.app != nil {
				_ = p.app.Kill()
			}
			<-p.delveDone
		}
		<-s.Done()
	})
	return s
}

// waitAnswers waits for s to accept connections.
func waitAnswers(t *testing.T, s server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("the server never answered: %v", err)
	}
}

// stopWithin runs Stop with ctx, failing t when it does not return
// (within a bound that only ends a broken test).
func stopWithin(t *testing.T, ctx context.Context, s server) error {
	t.Helper()
	result := make(chan error, 1)
	go func() { result <- s.Stop(ctx) }()
	select {
	case err := <-result:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Stop did not return")
		return nil
	}
}

func TestServerStartsOnItsOwnPortAndDrainsOnStop(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "under delve"}[debug], func(t *testing.T) {
			s := launch(t, "serve", debug)
			waitAnswers(t, s)
			if body, err := get(t, http.DefaultClient, "http://"+s.Addr()+"/"); err != nil || body != "hello" {
				t.Fatalf("GET / on %s: %q %v", s.Addr(), body, err)
			}
			resp, err := http.Get("http://" + s.Addr() + "/slow")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if err := stopWithin(t, context.Background(), s); err != nil { // while the answer is under way
				t.Errorf("Stop: %v", err)
			}
			if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "slow" {
				t.Errorf("the request under way when Stop came got %q %v; want its whole answer", body, err)
			}
			if !isClosed(s.Done()) {
				t.Error("Stop returned with the server still running")
			}
		})
	}
}

// TestServerThatDoesNotDrainIsKilledWhenTheBoundComes, alone and under
// delve: Stop returns once its ctx ends, the server gone, and says so.
func TestServerThatDoesNotDrainIsKilledWhenTheBoundComes(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "under delve"}[debug], func(t *testing.T) {
			s := launch(t, "hang", debug)
			waitAnswers(t, s)
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan error, 1)
			go func() { stopped <- stopWithin(t, ctx, s) }()
			// Still serving: it ignores the signal to drain.
			if body, err := get(t, http.DefaultClient, "http://"+s.Addr()+"/"); err != nil || body != "hello" {
				t.Fatalf("GET / on the server being stopped: %q %v", body, err)
			}
			cancel()
			if err := <-stopped; !errors.Is(err, errNotDrained) {
				t.Errorf("Stop of a server that does not drain: %v; want %v", err, errNotDrained)
			}
			if !isClosed(s.Done()) {
				t.Error("Stop returned with the server still running")
			}
			if _, err := http.Get("http://" + s.Addr() + "/"); err == nil {
				t.Error("the app still answers after Stop: it outlived its delve")
			}
		})
	}
}

// TestServerHaltedAtABreakpointIsEndedByItsDelve: an app its debugger holds
// stopped cannot drain; Stop says so and delve ends it, without waiting
// for the bound.
func TestServerHaltedAtABreakpointIsEndedByItsDelve(t *testing.T) {
	s := launch(t, "serve", true)
	waitAnswers(t, s)
	p := s.(*process)
	<-p.appFound
	app := p.app
	if app == nil {
		t.Fatal("no app under the stand-in for delve")
	}
	if err := app.Signal(syscall.SIGSTOP); err != nil { // as a breakpoint holds it
		t.Fatal(err)
	}
	eventually(t, "the app to be held", func() bool { stat, _ := readProcStat(p.appPid); return stat.state == 'T' })
	if err := stopWithin(t, context.Background(), s); !errors.Is(err, errHalted) {
		t.Errorf("Stop of an app halted at a breakpoint: %v; want %v", err, errHalted)
	}
}

func TestServerThatExitsBeforeServingSaysHow(t *testing.T) {
	s := testLauncher(t, "exit")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Wait on a server that exits at once with status 3: %v", err)
	}
	if got := exitStatus(s.Err()); got != "exit status 3" {
		t.Errorf("its exit: %q", got)
	}
	// Stop on a process already gone returns at once, with nothing to say.
	if err := stopWithin(t, context.Background(), s); err != nil {
		t.Errorf("Stop of a server already gone: %v", err)
	}
}

// TestServerUnderDelveThatExitsSaysHow: the server under delve is the app,
// not delve, which outlives it: an app that exits before it serves ends
// Wait with its exit status, and one that exits while serving (an os.Exit
// in a handler) closes Done with it, delve still running.
func TestServerUnderDelveThatExitsSaysHow(t *testing.T) {
	s := launch(t, "exit", true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Wait on an app that exits at once under delve with status 3: %v", err)
	}

	s = launch(t, "serve", true)
	waitAnswers(t, s)
	if _, err := http.Get("http://" + s.Addr() + "/exit"); err == nil {
		t.Fatal("GET /exit got an answer")
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the app under delve exited, and Done stayed open")
	}
	if got := exitStatus(s.Err()); got != "exit status 3" {
		t.Errorf("its exit: %q", got)
	}
	if isClosed(s.(*process).delveDone) {
		t.Error("the stand-in delve is gone: Done closed for delve's end, not the app's")
	}
	if err := stopWithin(t, context.Background(), s); err != nil {
		t.Errorf("Stop of a server whose app is gone: %v", err)
	}
}

// TestHaltedMeansStoppedWithTheSignalUntaken: an app stopped after it took
// the SIGINT (a slow delve passing it on) is not halted, however long it
// stays stopped; one stopped with the SIGINT still pending is.
func TestHaltedMeansStoppedWithTheSignalUntaken(t *testing.T) {
	p := testLauncher(t, "pause").(*process)
	pid := p.cmd.Process.Pid
	waitAnswers(t, p) // it listens once it waits for its signal
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the app to stop", func() bool { stat, _ := readProcStat(pid); return stat.state == 'T' })
	if haltedWithSIGINTPending(pid) {
		t.Error("an app stopped after it took its SIGINT was taken for halted at a breakpoint")
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if !haltedWithSIGINTPending(pid) {
		t.Error("an app stopped with a SIGINT pending was not taken for halted")
	}
}

func TestProcStatReadsStateAndParent(t *testing.T) {
	stat, ok := readProcStat(os.Getpid())
	if !ok || stat.ppid != os.Getppid() || (stat.state != 'R' && stat.state != 'S') {
		t.Fatalf("readProcStat(self) = %+v %v; want R or S, parent %d", stat, ok, os.Getppid())
	}
	if !slices.Contains(childrenOf(os.Getppid()), os.Getpid()) {
		t.Error("childrenOf(our parent) does not list us")
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	for range 200 {
		ports, err := freePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		if ports[0] == ports[1] {
			t.Fatalf("freePorts(2) gave port %d twice", ports[0])
		}
	}
}
