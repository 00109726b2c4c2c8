package main

import (
	"bufio"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// FuzzServer feeds the request path (method, target, one header) through
// net/http's own parser into the server: whatever parses must get a valid
// status, and nothing may panic: a recovered panic would answer 500. The seed
// corpus runs with every `go test`; `go test -fuzz FuzzServer ./app` explores.
func FuzzServer(f *testing.F) {
	seeds := []struct{ method, target, name, value string }{
		{"GET", "/", "Accept", "*/*"},
		{"GET", "/healthz", "Accept", "application/json"},
		{"POST", "/", "Content-Type", "text/plain"},
		{"DELETE", "/healthz", "X-Forwarded-For", "10.0.0.1"},
		{"GET", "/../../etc/passwd", "Host", "evil"},
		{"GET", "/%2e%2e/%00", "Cookie", "a=b"},
		{"OPTIONS", "*", "Origin", "http://example.com"},
		{"GET", "http://other.example/absolute", "Connection", "close"},
		{"GET", "/?q=" + strings.Repeat("a", maxURIBytes), "X-Long", strings.Repeat("b", 1000)},
		{"PATCH", "//double//slash", "Content-Length", "5"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.name, s.value)
	}
	handler := newHandler(slog.New(slog.DiscardHandler), new(atomic.Bool))
	f.Fuzz(func(t *testing.T, method, target, name, value string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + name + ": " + value + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 itself before any handler runs
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("%q: invalid status %d", raw, rec.Code)
		}
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("%q: 500, a handler panicked or failed: %s", raw, rec.Body)
		}
	})
}
