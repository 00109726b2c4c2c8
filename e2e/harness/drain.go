package harness

import (
	"context"
	"fmt"
	"time"

	"e2e/load"
)

// Drain is the account of requests while something (a stop, a reload)
// happened to a server under load: each request the server logged is one it
// accepted, and each of those must reach its client in full.
type Drain struct {
	Accepted int            // requests the server logged
	Lost     []int          // accepted requests whose response no client got in full
	Refused  map[string]int // failures before a server accepted them, by kind
}

// Answered is how many accepted requests got their whole response.
func (d Drain) Answered() int { return d.Accepted - len(d.Lost) }

// RefusedCount is how many requests never reached a server.
func (d Drain) RefusedCount() int {
	n := 0
	for _, c := range d.Refused {
		n += c
	}
	return n
}

func (d Drain) String() string {
	s := fmt.Sprintf("server accepted %d requests, answered %d in full, %d lost; refused before a server accepted them: %d %v",
		d.Accepted, d.Answered(), len(d.Lost), d.RefusedCount(), d.Refused)
	if len(d.Lost) > 0 {
		s += fmt.Sprintf("; lost e.g. %v", d.Lost[:min(len(d.Lost), 10)])
	}
	return s
}

// UnderLoad keeps clients requests in flight against addr (GET /, a body of
// wantBody when it is not empty) from the moment warmup of them have
// succeeded, runs during, then stops the clients and matches what they got
// against logs, read once during has returned.
func UnderLoad(t TB, addr string, clients, warmup int, wantBody string, during func(*load.Generator), logs func() string) Drain {
	t.Helper()
	return UnderLoadAt(t, addr, "/", clients, warmup, wantBody, during, logs)
}

// UnderLoadAt is UnderLoad requesting GET path (MarkerPath, say).
func UnderLoadAt(t TB, addr, path string, clients, warmup int, wantBody string, during func(*load.Generator), logs func() string) Drain {
	t.Helper()
	result := LoadAt(t, addr, path, clients, warmup, wantBody, during)
	logged := load.LoggedIDs(logs())
	return Drain{Accepted: len(logged), Lost: result.Lost(logged), Refused: result.Failed}
}

// Load is UnderLoad without the server's side: what the clients saw.
func Load(t TB, addr string, clients, warmup int, wantBody string, during func(*load.Generator)) load.Result {
	t.Helper()
	return LoadAt(t, addr, "/", clients, warmup, wantBody, during)
}

// LoadAt is Load requesting GET path.
func LoadAt(t TB, addr, path string, clients, warmup int, wantBody string, during func(*load.Generator)) load.Result {
	t.Helper()
	gen := load.Start(addr, path, clients, wantBody)
	stopped := false
	defer func() { // when t.Fatalf ended the test early
		if !stopped {
			gen.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := gen.WaitOK(ctx, warmup); err != nil {
		t.Fatalf("load on %s before the drain: %v", addr, err)
	}
	during(gen)
	stopped = true
	return gen.Stop()
}

// StopUnderLoad runs docker stop on c while clients keep requests in flight,
// and returns the account and how long the stop took.
func StopUnderLoad(t TB, c *Container, clients, warmup int, wantBody string) (Drain, time.Duration) {
	t.Helper()
	return StopUnderLoadAt(t, c, "/", clients, warmup, wantBody)
}

// StopUnderLoadAt is StopUnderLoad requesting GET path.
func StopUnderLoadAt(t TB, c *Container, path string, clients, warmup int, wantBody string) (Drain, time.Duration) {
	t.Helper()
	var took time.Duration
	drain := UnderLoadAt(t, c.Addr, path, clients, warmup, wantBody,
		func(*load.Generator) { took = c.Stop() },
		c.Logs)
	return drain, took
}

// WaitMore waits until n more requests than now have succeeded: traffic
// after an event, such as a reload, went on.
func WaitMore(t TB, gen *load.Generator, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := gen.WaitOK(ctx, gen.OK()+n); err != nil {
		t.Fatalf("load after the event: %v", err)
	}
}
