// Command go-webapp is an Echo web service shaped to be copied: configuration
// from the environment, structured logs, timeouts, health and graceful shutdown.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Build metadata, stamped at link time by the Makefile and the Dockerfile:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc1234 -X main.date=2026-01-02T03:04:05Z"
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole program with its dependencies passed in, so tests can
// drive it like main does: it returns when ctx is cancelled, on SIGINT (what
// air sends on reload) or SIGTERM (what docker stop sends), after draining.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	showVersion := flags.Bool("version", false, "print version, commit and build date, then exit")
	healthcheck := flags.Bool("healthcheck", false, "GET /healthz of the server on 127.0.0.1:$PORT; exit 0 when healthy, 1 otherwise")
	if err := flags.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintf(stdout, "%s %s (commit %s, built %s)\n", filepath.Base(args[0]), version, commit, date)
		return err
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if *healthcheck {
		return checkHealth(ctx, cfg.Port)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	logger, flushLogs := newLogger(cfg, stdout)
	// Last, after "server stopped": every line written before the process
	// exits reaches the output.
	defer flushLogs()
	var draining atomic.Bool
	srv := newServer(cfg, newHandler(logger, &draining), logger)
	// Listening before serving turns "address in use" into an error from run
	// instead of a log line from a goroutine.
	listener, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(listener) }()
	logger.Info("server started", "addr", listener.Addr().String(), "version", version, "commit", commit)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// A second Ctrl-C now kills the process the default way.
	stop()

	// The drain. First stop being ready, and close each connection after its
	// next response (see closeConnectionsWhileDraining), so clients reconnect
	// to where a load balancer sends them. Then keep serving for DRAIN_DELAY:
	// a Kubernetes Service goes on routing new connections here for a moment
	// after the pod starts terminating. Only then stop accepting, and wait
	// for the requests under way.
	draining.Store(true)
	if cfg.DrainDelay > 0 {
		logger.Info("draining", "delay", cfg.DrainDelay.String())
		select {
		case err := <-serveErr:
			return err
		case <-time.After(cfg.DrainDelay):
		}
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("server stopped")
	return nil
}

// checkHealth is what the image's HEALTHCHECK runs, so the runner needs
// neither curl nor wget. It speaks HTTP over a plain connection rather than
// through http.Client: the client's transport would add about 0.5 MB to a
// binary that only serves.
func checkHealth(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return err
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", req.URL, resp.Status)
	}
	return nil
}
