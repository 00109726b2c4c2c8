package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// goBuild is the dev image's build of the app. The e2e tests and the bench
// build the same way (DevBuild in e2e/harness): a build with other flags
// would miss this one's cache.
type goBuild struct {
	pkg     string
	gcflags string    // DEV_GCFLAGS: no optimisation, no inlining (docker/Dockerfile says why)
	dwarf   bool      // keep the debug tables: only delve reads them, and they cost link time
	output  io.Writer // the compiler's messages
}

func (b goBuild) build(ctx context.Context, out string) error {
	ldflags := "-w"
	if b.dwarf {
		ldflags = ""
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-gcflags="+b.gcflags, "-ldflags="+ldflags, "-o", out, b.pkg)
	var messages bytes.Buffer
	cmd.Stdout = io.MultiWriter(b.output, &messages)
	cmd.Stderr = cmd.Stdout
	// A newer save stops the build at once: the go command and the
	// compilers it started, all in one process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return &buildError{err: err, messages: messages.String()}
	}
	return nil
}

// buildError is a failed build with the compiler's messages, which the
// debug service also shows in the editor.
type buildError struct {
	err      error
	messages string
}

func (e *buildError) Error() string { return e.err.Error() }

// launcher starts a build's server on a free port of loopback, under delve
// when debug is set. Its output goes to the container's log.
type launcher struct {
	debug          bool
	stdout, stderr io.Writer
}

func (l launcher) start(bin string) (server, error) {
	ports, err := freePorts(2) // the app's and delve's
	if err != nil {
		return nil, err
	}
	port := ports[0]
	p := &process{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
	cmd := exec.Command(bin)
	if l.debug {
		p.debugAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
		// delve starts the server itself: a debugger may always trace its
		// own child, even where the kernel refuses an attach to any other
		// process (Yama ptrace_scope 1, Ubuntu's default). Headless, for any
		// number of clients, speaking DAP or its own API; --continue lets the
		// server run without waiting for one.
		cmd = exec.Command("dlv", "exec", bin, "--headless", "--listen="+p.debugAddr, "--api-version=2",
			"--accept-multiclient", "--continue", "--")
	}
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = l.stdout, l.stderr
	// Its own process group: only devloop signals it, never a signal meant
	// for devloop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.cmd = cmd
	go func() {
		p.exitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// freePorts asks the kernel for n ports of loopback nobody uses, and
// different from each other: each is held until all are chosen, since a
// port just let go of may be handed out again at once (the app and its
// delve once got the same one, and the app could not listen).
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// process is a started server: the app itself, or delve with the app as its
// child.
type process struct {
	cmd       *exec.Cmd
	addr      string
	debugAddr string
	done      chan struct{}
	exitErr   error // set before done closes
}

func (p *process) Addr() string          { return p.addr }
func (p *process) DebugAddr() string     { return p.debugAddr }
func (p *process) Done() <-chan struct{} { return p.done }

// Err says how the process ended, once Done is closed: nil for exit status
// 0, else exec's error, which names the status or the signal.
func (p *process) Err() error { return p.exitErr }

func (p *process) Wait(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before it served: %s", exitStatus(p.exitErr))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// exitStatus is how a process ended, as a person reads it: "exit status 3",
// "signal: segmentation fault".
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Why a server ended without draining.
var (
	errHalted     = errors.New("it was halted at a breakpoint, so it could not drain; its delve ended it")
	errNotDrained = errors.New("it did not drain in time and was killed")
)

// Stop sends the app SIGINT, its signal to drain (as air would), and waits
// until it is gone; when ctx ends first, it kills it. Every signal goes
// through a handle on the process (a pidfd), never to a bare pid, which
// the kernel may have given to another process once this one was reaped.
//
// Under delve the app is delve's child: a headless delve answers a signal
// of its own by killing the app with no drain, so the signal goes to the
// app, and delve, which outlives its debuggee for its clients, goes after.
// An app halted at a breakpoint cannot drain; delve ends it.
func (p *process) Stop(ctx context.Context) error {
	if p.debugAddr == "" {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			_ = p.cmd.Process.Kill()
			<-p.done
			return errNotDrained
		}
	}
	var err error
	app := debuggee(p.cmd.Process.Pid)
	if app != nil {
		defer app.Release()
		_ = app.Signal(syscall.SIGINT)
		if err = waitGone(ctx, app.Pid, p.cmd.Process.Pid); errors.Is(err, errNotDrained) {
			_ = app.Kill()
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		if app != nil {
			_ = app.Kill() // delve's end does not end its debuggee: a traced process goes on once let go
		}
		<-p.done
		err = cmp.Or(err, errNotDrained)
	}
	return err
}

// debuggee is the app delve (pid) started, by a handle that stays its own:
// found through /proc, then checked to be delve's child once held. nil when
// delve has none.
func debuggee(delve int) *os.Process {
	pid := childOf(delve)
	if pid == 0 {
		return nil
	}
	app, err := os.FindProcess(pid) // on Linux, a pidfd
	if err != nil {
		return nil
	}
	if _, ppid, ok := procStat(pid); !ok || ppid != delve {
		app.Release() // it exited, and the pid is someone else's now
		return nil
	}
	return app
}

// waitGone waits for pid, delve's child, to exit, until ctx ends; it gives
// up sooner on a process its debugger holds stopped (at a breakpoint),
// which cannot act on a signal. Only /proc is read: nothing is sent to pid.
func waitGone(ctx context.Context, pid, delve int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	held := 0
	for {
		state, ppid, ok := procStat(pid)
		if !ok || state == 'Z' || ppid != delve {
			return nil
		}
		// A moment in tracing stop is delve passing the signal on; staying
		// there is a breakpoint.
		if state == 't' || state == 'T' {
			if held++; held >= 8 {
				return errHalted
			}
		} else {
			held = 0
		}
		select {
		case <-ctx.Done():
			return errNotDrained
		case <-tick.C:
		}
	}
}

// procStat reads pid's state letter (R, S, t, Z...) and parent from /proc.
func procStat(pid int) (state byte, ppid int, ok bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(fields[1])
	return fields[0][0], ppid, err == nil
}

// childOf is a child process of parent (the app delve started), or 0.
func childOf(parent int) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(pid); ok && ppid == parent {
			return pid
		}
	}
	return 0
}
