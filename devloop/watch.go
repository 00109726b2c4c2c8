package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// air is the watcher: it notices saves under app/ (the filters are in
// .air.toml) and, for each, runs `devloop notify`, its "binary". air's own
// build step is a no-op: devloop builds, because air would stop the running
// server before building and start overlapping builds on a burst of saves
// (air-verse/air#938).

// startAir starts air with the container's arguments. exited delivers its
// exit status; stop ends it (SIGTERM, then SIGKILL when ctx ends first) and
// waits.
func startAir(args []string, stdout, stderr io.Writer) (exited <-chan error, stop func(ctx context.Context), err error) {
	cmd := exec.Command("air", append([]string{"-c", ".air.toml"}, args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	gone := make(chan struct{})
	go func() {
		done <- cmd.Wait()
		close(gone)
	}()
	stop = func(ctx context.Context) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-gone:
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-gone
		}
	}
	return done, stop, nil
}

// listenForChanges takes notifications on a unix socket at path: each
// connection is a save. Saves that come while the loop is busy fold into
// one: the loop builds what is on disk when it gets to it. The poller
// (poll.go) sends on the same channel.
func listenForChanges(path string) (chan struct{}, func(), error) {
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
