package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// nobody is a session that wants none of delve's messages.
type nobody struct{}

func (nobody) fromDelve(*upstream, message, message) {}
func (nobody) unanswered(message, error)             {}

func TestUpstreamCallThatTimesOutForgetsItsRequest(t *testing.T) {
	d := startFakeDelveWith(t, func(d *fakeDelve) { d.silent["evaluate"] = true })
	up, err := dialDelve(d.addr, nobody{})
	if err != nil {
		t.Fatal(err)
	}
	defer up.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := up.call(ctx, "evaluate", nil); err == nil {
		t.Fatal("a call delve never answers succeeded")
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.pending) != 0 {
		t.Errorf("%d requests still pending after their call gave up", len(up.pending))
	}
}

func TestUpstreamWriteToADelveThatReadsNothingGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testOver := make(chan struct{})
	defer close(testOver)
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			<-testOver // accepts, never reads
		}
	}()
	up, err := dialDelve(l.Addr().String(), nobody{})
	if err != nil {
		t.Fatal(err)
	}
	defer up.conn.Close() // not up.close: it waits for the lock a blocked write holds
	done := make(chan error, 1)
	go func() {
		// Larger than the kernel's buffers: the write blocks.
		_, err := up.call(context.Background(), "evaluate", map[string]string{"expression": strings.Repeat("x", 16<<20)})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a write nobody read succeeded")
		}
	case <-time.After(time.Minute):
		t.Fatal("a write to a delve that reads nothing still blocks: no deadline")
	}
}
