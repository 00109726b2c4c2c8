package main

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRoutes is the table to extend when you add a route in routes.go. The
// error rows show what every route gets from the middleware: JSON errors and
// the size limits.
func TestRoutes(t *testing.T) {
	tests := []struct {
		name        string
		draining    bool // shutdown has begun
		method      string
		target      string
		body        string
		wantStatus  int
		wantType    string
		wantBody    string
		wantBodyHas string
		wantClose   bool // Connection: close
	}{
		{name: "hello", method: "GET", target: "/", wantStatus: 200, wantType: "text/plain; charset=UTF-8", wantBody: "Hello, World!"},
		{name: "health", method: "GET", target: "/healthz", wantStatus: 200, wantType: "application/json", wantBody: `{"status":"ok"}` + "\n"},
		{name: "ready", method: "GET", target: "/readyz", wantStatus: 200, wantType: "application/json", wantBody: `{"status":"ready"}` + "\n"},
		{name: "draining", draining: true, method: "GET", target: "/readyz", wantStatus: 503, wantType: "application/json", wantBody: `{"status":"draining"}` + "\n", wantClose: true},
		{name: "serving while draining", draining: true, method: "GET", target: "/", wantStatus: 200, wantType: "text/plain; charset=UTF-8", wantBody: "Hello, World!", wantClose: true},
		{name: "not found while draining", draining: true, method: "GET", target: "/nope", wantStatus: 404, wantType: "application/json", wantClose: true},
		{name: "unknown path", method: "GET", target: "/nope", wantStatus: 404, wantType: "application/json", wantBodyHas: `"message":"Not Found"`},
		{name: "wrong method", method: "DELETE", target: "/", wantStatus: 405, wantType: "application/json", wantBodyHas: `"message":"Method Not Allowed"`},
		{name: "body over limit", method: "POST", target: "/", body: strings.Repeat("x", 1<<20+1), wantStatus: 413, wantType: "application/json"},
		{name: "uri over limit", method: "GET", target: "/?q=" + strings.Repeat("a", maxURIBytes), wantStatus: 414, wantType: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var draining atomic.Bool
			draining.Store(tt.draining)
			handler := newHandler(slog.New(slog.DiscardHandler), &draining)
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body)))

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
			if got := rec.Header().Get("Connection") == "close"; got != tt.wantClose {
				t.Errorf("Connection: close = %v, want %v", got, tt.wantClose)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBodyHas) {
				t.Errorf("body = %q, want it to contain %q", rec.Body.String(), tt.wantBodyHas)
			}
		})
	}
}
