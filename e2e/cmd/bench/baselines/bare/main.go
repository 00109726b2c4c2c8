// Command bare is the baseline for `make bench`'s throughput row: net/http's
// hello world with no framework, no middleware and no logging. It answers
// every GET ("GET /" matches any path, the bench's marker route among them)
// with $BODY, so that it serves exactly what the app under test does.
//
// With LOG_REQUESTS=1 it is what a developer would write instead of the app:
// the same, plus slog's JSON line per request straight to stdout, one write
// each.
package main

import (
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"
)

func main() {
	body := []byte(os.Getenv("BODY"))
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	logRequests := os.Getenv("LOG_REQUESTS") == "1"
	http.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = w.Write(body)
		if logRequests {
			logger.Info("request", "method", r.Method, "uri", r.RequestURI, "status", http.StatusOK,
				"latency", time.Since(start), "remote_ip", r.RemoteAddr)
		}
	})
	log.Fatal(http.ListenAndServe(":1323", nil))
}
