package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBufferedWriterHoldsLinesUntilFlushSizeOrClose(t *testing.T) {
	var out syncBuffer
	w := newBufferedWriter(&out, 64, time.Hour) // the interval never fires here
	fmt.Fprintln(w, "first")
	if got := out.String(); got != "" {
		t.Fatalf("a line reached the output before any flush: %q", got)
	}
	if err := w.Flush(); err != nil || out.String() != "first\n" {
		t.Fatalf("after Flush: %q, %v", out.String(), err)
	}

	fmt.Fprintln(w, strings.Repeat("x", 100)) // more than the buffer holds
	waitFor(t, "a full buffer to be written out without a Flush", func() bool {
		return strings.Contains(out.String(), strings.Repeat("x", 100))
	})

	fmt.Fprintln(w, "last")
	if err := w.Close(); err != nil || !strings.HasSuffix(out.String(), "last\n") {
		t.Fatalf("after Close: %q, %v", out.String(), err)
	}
	fmt.Fprintln(w, "after close")
	if !strings.HasSuffix(out.String(), "after close\n") {
		t.Errorf("a line written after Close waited: %q", out.String())
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBufferedWriterFlushesEveryInterval(t *testing.T) {
	var out syncBuffer
	w := newBufferedWriter(&out, 1<<10, 10*time.Millisecond)
	defer w.Close()
	fmt.Fprintln(w, "waiting")
	waitFor(t, "the interval to write the line out", func() bool { return out.String() == "waiting\n" })
}

// slowWriter is an output that takes its time, like a pipe whose reader
// lags: writers must wait for it, never deadlock or lose a line.
type slowWriter struct{ syncBuffer }

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(200 * time.Microsecond)
	return s.syncBuffer.Write(p)
}

// TestBufferedWriterKeepsConcurrentLinesWhole: lines written at once from
// many goroutines all arrive, none cut into another, to a fast output and a
// slow one.
func TestBufferedWriterKeepsConcurrentLinesWhole(t *testing.T) {
	t.Run("fast output", func(t *testing.T) { testConcurrentLines(t, &syncBuffer{}) })
	t.Run("slow output", func(t *testing.T) {
		var slow slowWriter
		testConcurrentLines(t, &slow)
	})
}

func testConcurrentLines(t *testing.T, out interface {
	io.Writer
	String() string
}) {
	w := newBufferedWriter(out, 4<<10, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				fmt.Fprintf(w, "goroutine %d line %04d %s\n", g, i, strings.Repeat("=", 40))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8000 {
		t.Fatalf("%d lines arrived, want 8000", len(lines))
	}
	for _, line := range lines {
		var g, i int
		if n, _ := fmt.Sscanf(line, "goroutine %d line %d", &g, &i); n != 2 || !strings.HasSuffix(line, " "+strings.Repeat("=", 40)) {
			t.Fatalf("line cut or mixed: %q", line)
		}
	}
}

// TestErrorsReachTheOutputAtOnce: with a buffer that would hold lines for an
// hour, an error line is written out at once, behind the lines before it.
func TestErrorsReachTheOutputAtOnce(t *testing.T) {
	cfg := testConfig()
	cfg.LogFlushInterval = time.Hour
	var out syncBuffer
	logger, flush := newLogger(cfg, &out)
	defer flush()
	logger.Info("routine")
	if out.String() != "" {
		t.Fatalf("an info line was written at once: %q", out.String())
	}
	logger.With("component", "test").Error("broken")
	got := out.String()
	if !strings.Contains(got, `"msg":"routine"`) || !strings.Contains(got, `"msg":"broken"`) ||
		strings.Index(got, "routine") > strings.Index(got, "broken") {
		t.Errorf("after an error: %q, want the info line then the error line", got)
	}
}

// TestUnbufferedLogging: LOG_FLUSH_INTERVAL=0 writes each line at once.
func TestUnbufferedLogging(t *testing.T) {
	cfg := testConfig()
	cfg.LogFlushInterval = 0
	var out bytes.Buffer
	logger, _ := newLogger(cfg, &out)
	logger.Info("now")
	if !strings.Contains(out.String(), `"msg":"now"`) {
		t.Errorf("unbuffered info line not written: %q", out.String())
	}
}
