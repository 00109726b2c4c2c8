package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBufferBytes bounds the memory the log buffer holds, whatever the
// request rate; a full buffer is written out at once.
const logBufferBytes = 64 << 10

// newLogger returns the service's logger and the function that writes out
// what it still holds; run calls that last, after the server has stopped.
//
// With LOG_FLUSH_INTERVAL above 0, lines collect in a buffer written out when
// it fills, every interval, and at once for an error or worse: one write per
// request line would cost a system call, and under Docker a wake-up and a
// copy by the log driver, which halves the requests a core serves. A
// SIGKILL or an OOM kill loses what the buffer holds: at most one interval
// of lines, and never an error line.
func newLogger(cfg config, w io.Writer) (*slog.Logger, func() error) {
	flush := func() error { return nil }
	if cfg.LogFlushInterval > 0 {
		buffered := newBufferedWriter(w, logBufferBytes, cfg.LogFlushInterval)
		w, flush = buffered, buffered.Close
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var handler slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		handler = slog.NewTextHandler(w, opts)
	}
	return slog.New(flushOnError{Handler: handler, flush: flush}), flush
}

// flushOnError writes out the buffer after each record at error level or
// above, so errors and panics reach the output at once, behind the lines
// logged before them.
type flushOnError struct {
	slog.Handler
	flush func() error
}

func (h flushOnError) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelError {
		_ = h.flush()
	}
	return err
}

func (h flushOnError) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnError{Handler: h.Handler.WithAttrs(attrs), flush: h.flush}
}

func (h flushOnError) WithGroup(name string) slog.Handler {
	return flushOnError{Handler: h.Handler.WithGroup(name), flush: h.flush}
}

// bufferedWriter is a bufio.Writer safe for concurrent use, written out every
// interval by a goroutine of its own. Each Write lands whole (slog writes one
// record per call), so lines never interleave.
type bufferedWriter struct {
	mu     sync.Mutex
	buf    *bufio.Writer
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

func newBufferedWriter(w io.Writer, size int, interval time.Duration) *bufferedWriter {
	b := &bufferedWriter{buf: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(interval)
	return b
}

func (b *bufferedWriter) flushEvery(interval time.Duration) {
	defer close(b.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			_ = b.Flush()
		case <-b.stop:
			return
		}
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if err == nil && b.closed { // after Close, every line goes out at once
		err = b.buf.Flush()
	}
	return n, err
}

// Flush writes out what the buffer holds.
func (b *bufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// Close stops the interval goroutine and writes out the buffer; lines written
// after it go out one by one. It may be called more than once.
func (b *bufferedWriter) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	<-b.done
	return b.Flush()
}
