package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the app: with DEVLOOP_TEST_APP
// set it serves on PORT as the app does, draining on SIGINT.
func TestMain(m *testing.M) {
	switch os.Getenv("DEVLOOP_TEST_APP") {
	case "serve":
		serveLikeTheApp()
		return
	case "exit":
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func serveLikeTheApp() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
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
	<-ctx.Done()
	_ = srv.Shutdown(context.Background()) // returns once the requests under way are answered
}

func testLauncher(t *testing.T, mode string) server {
	t.Helper()
	t.Setenv("DEVLOOP_TEST_APP", mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s, err := launcher{stdout: os.Stdout, stderr: os.Stderr, drain: 5 * time.Second}.start(exe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(s.(*process).cmd.Process.Pid, syscall.SIGKILL)
		<-s.Done()
	})
	return s
}

func TestServerStartsOnItsOwnPortAndDrainsOnStop(t *testing.T) {
	s := testLauncher(t, "serve")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("the server never answered: %v", err)
	}
	if body, err := get(t, http.DefaultClient, "http://"+s.Addr()+"/"); err != nil || body != "hello" {
		t.Fatalf("GET / on %s: %q %v", s.Addr(), body, err)
	}
	resp, err := http.Get("http://" + s.Addr() + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := s.Stop(); err != nil { // while the answer is under way
		t.Errorf("Stop: %v", err)
	}
	if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "slow" {
		t.Errorf("the request under way when Stop came got %q %v; want its whole answer", body, err)
	}
	select {
	case <-s.Done():
	default:
		t.Error("Stop returned with the server still running")
	}
}

func TestServerThatExitsBeforeServingIsAnError(t *testing.T) {
	s := testLauncher(t, "exit")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Wait on a server that exits at once: %v", err)
	}
}

func TestProcStatReadsStateAndParent(t *testing.T) {
	state, ppid, ok := procStat(os.Getpid())
	if !ok || ppid != os.Getppid() || (state != 'R' && state != 'S') {
		t.Fatalf("procStat(self) = %q %d %v; want R or S, %d", state, ppid, ok, os.Getppid())
	}
	if childOf(os.Getppid()) == 0 {
		t.Error("childOf(our parent) found no child; we are one")
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
