package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// air is the watcher: it notices saves under app/ (the filters are in
// .air.toml) and, for each, runs `devloop notify`, its "binary". air's own
// build step is a no-op: devloop builds, because air would stop the running
// server before building and start overlapping builds on a burst of saves
// (air-verse/air#938).

// airWatcher runs air, and starts it again polling when asked.
type airWatcher struct {
	args           []string // the container's arguments, for air
	stdout, stderr io.Writer
	exited         chan error // air exited without being stopped

	mu      sync.Mutex
	cmd     *exec.Cmd
	stopped chan struct{} // closed when the current air has exited
	closed  bool          // shut down: no more starts
}

func newAirWatcher(args []string, stdout, stderr io.Writer) *airWatcher {
	return &airWatcher{args: args, stdout: stdout, stderr: stderr, exited: make(chan error, 1)}
}

// start starts air, polling the files every 500 ms (air's minimum) instead
// of waiting for events when poll is set. air's first run notifies devloop,
// so a start is also a reload.
func (w *airWatcher) start(poll bool) error {
	args := append([]string{"-c", ".air.toml"}, w.args...)
	if poll {
		args = append(args, "-build.poll=true")
	}
	cmd := exec.Command("air", args...)
	cmd.Stdout, cmd.Stderr = w.stdout, w.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("shutting down")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	stopped := make(chan struct{})
	w.cmd, w.stopped = cmd, stopped
	go func() {
		err := cmd.Wait()
		w.mu.Lock()
		current := w.cmd == cmd
		w.mu.Unlock()
		close(stopped)
		if current {
			w.exited <- err
		}
	}()
	return nil
}

// shutdown stops air for good.
func (w *airWatcher) shutdown() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.stop()
}

// stop ends air (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (w *airWatcher) stop() {
	w.mu.Lock()
	cmd, stopped := w.cmd, w.stopped
	w.cmd = nil // its exit is no news
	w.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-stopped
	}
}

// listenForChanges takes notifications on a unix socket at path: each
// connection is a save. Saves that come while the loop is busy fold into
// one: the loop builds what is on disk when it gets to it.
func listenForChanges(path string) (<-chan struct{}, func(), error) {
	_ = os.Remove(path) // a socket left by an earlier run in the same container
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, nil, err
	}
	changes := make(chan struct{}, 1)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case changes <- struct{}{}:
			default:
			}
			_, _ = io.WriteString(conn, "ok\n")
			conn.Close()
		}
	}()
	return changes, func() { l.Close() }, nil
}

// notify is `devloop notify`, which air runs after each save: it tells the
// supervisor, then stays until air stops it, as air expects of the program
// it runs (one that exits by itself makes air log it and lose track of it).
// It does not catch air's SIGINT: dying of it is what air logs nothing
// about. ctx ending also returns, for tests.
func notify(ctx context.Context, path string) error {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("notify: is devloop running? %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	reply, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || reply != "ok\n" {
		return fmt.Errorf("notify: no answer from devloop: %v", err)
	}
	// A timer rather than a bare wait: the runtime would take a wait on
	// nothing for a deadlock.
	forever := time.NewTimer(math.MaxInt64)
	defer forever.Stop()
	select {
	case <-ctx.Done():
	case <-forever.C:
	}
	return nil
}
