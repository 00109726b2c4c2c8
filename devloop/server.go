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
	drain          time.Duration // how long a server may take to drain
}

func (l launcher) start(bin string) (server, error) {
	ports, err := freePorts(2) // the app's and delve's
	if err != nil {
		return nil, err
	}
	port := ports[0]
	p := &process{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), drain: l.drain, done: make(chan struct{})}
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
	drain     time.Duration
	done      chan struct{}
	exitErr   error // set before done closes
}

func (p *process) Addr() string          { return p.addr }
func (p *process) DebugAddr() string     { return p.debugAddr }
func (p *process) Done() <-chan struct{} { return p.done }

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
			return fmt.Errorf("exited: %v", p.exitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Why a server ended without draining.
var (
	errHalted   = errors.New("it was halted at a breakpoint, so it could not drain; its delve ended it")
	errNotDrain = errors.New("it did not drain in time and was killed")
)

// Stop sends the app SIGINT, its signal to drain (as air would), and waits.
// Under delve the app is delve's child: a headless delve answers a signal
// of its own by killing the app with no drain, so the signal goes to the
// app, and delve, which outlives its debuggee for its clients, goes after.
// An app halted at a breakpoint cannot drain; delve ends it.
func (p *process) Stop() error {
	var err error
	app := p.cmd.Process.Pid
	if p.debugAddr != "" {
		app = childOf(app)
	}
	if app > 0 {
		_ = syscall.Kill(app, syscall.SIGINT)
		err = p.waitGone(app)
	}
	if p.debugAddr != "" {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		if app > 0 {
			_ = syscall.Kill(app, syscall.SIGKILL)
		}
		<-p.done
		err = cmp.Or(err, errNotDrain)
	}
	return err
}

// waitGone waits for pid to exit, for at most the drain; it gives up sooner
// on a process its debugger holds stopped (at a breakpoint), which cannot act
// on a signal.
func (p *process) waitGone(pid int) error {
	const tick = 20 * time.Millisecond
	held := 0
	for deadline := time.Now().Add(p.drain); time.Now().Before(deadline); time.Sleep(tick) {
		state, _, ok := procStat(pid)
		if !ok || state == 'Z' {
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
	}
	return errNotDrain
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
