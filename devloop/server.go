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
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	bin, err := filepath.Abs(bin) // as delve passes it on, and /proc shows it
	if err != nil {
		return nil, err
	}
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
	if !l.debug {
		go func() { p.exited(cmd.Wait()) }()
		return p, nil
	}
	p.delveDone, p.appFound = make(chan struct{}), make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(p.delveDone)
		p.exited(fmt.Errorf("its delve exited (%s)", exitStatus(err)))
	}()
	go p.followDebuggee(bin)
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
// child. Under delve, the server is the app: it is done when the app
// exits, though its delve stays for its clients (or when delve ends first).
type process struct {
	cmd       *exec.Cmd
	addr      string
	debugAddr string
	done      chan struct{}
	once      sync.Once
	exitErr   error // set before done closes

	// Under delve: delve's own end, and the app it started, held by a
	// handle (a pidfd) from the moment it is found; appFound closes then,
	// or when delve ends without one.
	delveDone chan struct{}
	appFound  chan struct{}
	app       *os.Process
	appPid    int
}

func (p *process) Addr() string          { return p.addr }
func (p *process) DebugAddr() string     { return p.debugAddr }
func (p *process) Done() <-chan struct{} { return p.done }

// Err says how the process ended, once Done is closed: nil for exit status
// 0, else an error that names the status or the signal.
func (p *process) Err() error { return p.exitErr }

// exited records the first end seen (under delve: the app's or delve's).
func (p *process) exited(err error) {
	p.once.Do(func() {
		p.exitErr = err
		close(p.done)
	})
}

// followDebuggee finds the app delve starts (bin) and watches it until it
// exits. delve forks it, then loads its debug tables before letting it
// run, so it is found long before it can exit. Its exit shows on a pidfd, which
// becomes readable once it is a zombie, before delve reaps it: its status
// is read then, from /proc, when delve has not been quicker.
func (p *process) followDebuggee(bin string) {
	delve := p.cmd.Process.Pid
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	watch := -1
	for watch < 0 {
		for _, pid := range childrenOf(delve) {
			if app, fd, ok := holdChild(pid, delve, bin); ok {
				p.app, p.appPid, watch = app, pid, fd
				break
			}
		}
		if watch >= 0 {
			break
		}
		select {
		case <-p.delveDone:
			close(p.appFound)
			return
		case <-tick.C:
		}
	}
	close(p.appFound)
	defer unix.Close(watch)
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(watch), Events: unix.POLLIN}}, -1)
		if err != unix.EINTR {
			break
		}
	}
	p.exited(p.debuggeeStatus())
}

// holdChild takes handles on pid, which were delve's child running bin
// when taken: one to signal it, one to learn of its exit. Checked after
// they are held, so that they cannot be another process's that got the
// pid. delve has other children than the app: itself, forked, before the
// exec of bin, and Go's probe of the kernel's pidfd support, which exits
// at once (delve is a Go program).
func holdChild(pid, delve int, bin string) (*os.Process, int, bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, 0, false
	}
	app, err := os.FindProcess(pid) // on Linux, a pidfd too
	if err != nil {
		unix.Close(fd)
		return nil, 0, false
	}
	if stat, ok := readProcStat(pid); !ok || stat.ppid != delve || !runs(pid, bin) {
		app.Release()
		unix.Close(fd)
		return nil, 0, false
	}
	return app, fd, true
}

// runs says whether pid has executed bin: by the name it was started with,
// which delve passes as the app's argv[0]. (Not by its executable: delve's
// own children, before an exec or never, have delve's, which in the tests
// is the app's too.)
func runs(pid int, bin string) bool {
	cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return argv0 == bin
}

// errStatusUnknown: delve reaped its app before devloop read how it ended.
var errStatusUnknown = errors.New("the app exited under delve, which reaped it before devloop read its status")

// debuggeeStatus is how the app under delve ended, read from /proc while
// it is a zombie, which only its parent, delve, could otherwise learn.
// The handle, still alive, says the zombie read is the app's.
func (p *process) debuggeeStatus() error {
	stat, ok := readProcStat(p.appPid)
	alive := p.app.Signal(syscall.Signal(0)) == nil
	if !ok || !alive || stat.state != 'Z' {
		return errStatusUnknown
	}
	status := syscall.WaitStatus(stat.exitCode)
	switch {
	case status.Signaled():
		return fmt.Errorf("signal: %v", status.Signal())
	case status.ExitStatus() != 0:
		return fmt.Errorf("exit status %d", status.ExitStatus())
	}
	return nil
}

func (p *process) Wait(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			conn.Close()
			return p.waitAppFound(ctx)
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

// waitAppFound waits, under delve, until the app that answers is held, so
// that Stop can signal it.
func (p *process) waitAppFound(ctx context.Context) error {
	if p.appFound == nil {
		return nil
	}
	select {
	case <-p.appFound:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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
	select {
	case <-p.appFound: // delve starts it at once
	case <-ctx.Done():
	}
	if isClosed(p.appFound) && p.app != nil {
		select {
		case <-p.done: // the app is gone already: nothing to signal
		default:
			_ = p.app.Signal(syscall.SIGINT)
			if err = p.waitAppGone(ctx); errors.Is(err, errNotDrained) {
				_ = p.app.Kill()
			}
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.delveDone:
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.delveDone
		<-p.appFound // at delve's end at the latest
		if p.app != nil {
			_ = p.app.Kill() // delve's end does not end its debuggee: a traced process goes on once let go
		}
		err = cmp.Or(err, errNotDrained)
	}
	<-p.done
	return err
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// waitAppGone waits for the app under delve to exit, until ctx ends; it
// gives up sooner on an app its debugger holds stopped (at a breakpoint),
// which cannot act on a signal. Only /proc is read: nothing is sent.
//
// Stopped, and the SIGINT sent still pending, is halted: while delve
// passes the signal on, however slowly, the app is stopped too, but the
// signal has been taken (it is what stopped it); at a breakpoint every
// thread is held and none takes it. Seen on two reads in a row, not one:
// right after the send, a thread stopped for a moment may not have taken
// it yet.
func (p *process) waitAppGone(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	held := 0
	for {
		select {
		case <-p.done:
			return nil
		default:
		}
		if haltedWithSIGINTPending(p.appPid) {
			if held++; held >= 2 {
				return errHalted
			}
		} else {
			held = 0
		}
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			return errNotDrained
		case <-tick.C:
		}
	}
}

// haltedWithSIGINTPending says whether pid is stopped (by its tracer, or a
// SIGSTOP) with a SIGINT sent to it that no thread has taken.
func haltedWithSIGINTPending(pid int) bool {
	stat, ok := readProcStat(pid)
	if !ok || (stat.state != 't' && stat.state != 'T') {
		return false
	}
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(status)) {
		if mask, ok := strings.CutPrefix(line, "ShdPnd:"); ok {
			pending, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return err == nil && pending&(1<<(syscall.SIGINT-1)) != 0
		}
	}
	return false
}

// procStatus is what /proc/<pid>/stat says of a process: its state letter
// (R, S, t, Z...), its parent, and once it is a zombie its wait status.
type procStatus struct {
	state    byte
	ppid     int
	exitCode int
}

func readProcStat(pid int) (procStatus, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStatus{}, false
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return procStatus{}, false
	}
	// From the state (the 3rd field) on; exit_code is the 52nd (proc(5)).
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 50 || len(fields[0]) != 1 {
		return procStatus{}, false
	}
	ppid, err1 := strconv.Atoi(fields[1])
	exitCode, err2 := strconv.Atoi(fields[49])
	return procStatus{state: fields[0][0], ppid: ppid, exitCode: exitCode}, err1 == nil && err2 == nil
}

// childrenOf is parent's child processes (delve's: the app it started):
// from the kernel's list of each of parent's threads' children, else, on
// a kernel without it, from every process's parent.
func childrenOf(parent int) []int {
	var children []int
	lists, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(parent), "task", "*", "children"))
	for _, list := range lists {
		pids, _ := os.ReadFile(list)
		for _, field := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(field); err == nil {
				children = append(children, pid)
			}
		}
	}
	if len(lists) > 0 {
		return children
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if stat, ok := readProcStat(pid); ok && stat.ppid == parent {
			children = append(children, pid)
		}
	}
	return children
}
