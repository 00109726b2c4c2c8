package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// BenchmarkHandler is what one GET / costs inside the process, through echo,
// the middleware and the request log line (formatted, then discarded), at
// each log level: the difference is what the line costs the app. `make
// bench` prints it; run it after adding middleware:
//
//	go test -run '^$' -bench Handler -benchmem ./app
func BenchmarkHandler(b *testing.B) {
	for _, level := range []string{"info", "warn"} {
		b.Run("LOG_LEVEL="+level, func(b *testing.B) {
			cfg, err := loadConfig(func(name string) string {
				if name == "LOG_LEVEL" {
					return level
				}
				return ""
			})
			if err != nil {
				b.Fatal(err)
			}
			logger, flush := newLogger(cfg, io.Discard)
			b.Cleanup(func() { _ = flush() })
			handler := newHandler(logger, new(atomic.Bool))
			req := httptest.NewRequest(http.MethodGet, "/?i=12345", nil)
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("GET / answered %d", rec.Code)
			}
			b.ReportAllocs()
			for b.Loop() {
				// A fresh header map per request, as net/http gives each one.
				handler.ServeHTTP(discardingResponse{header: http.Header{}}, req)
			}
		})
	}
}

// discardingResponse is an http.ResponseWriter that keeps nothing, so the
// benchmark measures the handler rather than a recorder.
type discardingResponse struct{ header http.Header }

func (w discardingResponse) Header() http.Header         { return w.header }
func (w discardingResponse) Write(p []byte) (int, error) { return len(p), nil }
func (w discardingResponse) WriteHeader(int)             {}
