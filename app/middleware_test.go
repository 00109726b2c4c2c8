package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestPanicIsLoggedAnswered500AndServingGoesOn(t *testing.T) {
	var logs bytes.Buffer
	logger, flush := newLogger(testConfig(), &logs)
	t.Cleanup(func() { _ = flush() })
	handler := newHandler(logger, new(atomic.Bool))
	handler.GET("/panic", func(echo.Context) error { panic("boom") })

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	var panicLine struct{ Msg, Error, Stack string }
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "panic recovered") {
			if err := json.Unmarshal([]byte(line), &panicLine); err != nil {
				t.Fatalf("panic log line is not JSON: %v", err)
			}
		}
	}
	if panicLine.Error != "boom" || !strings.Contains(panicLine.Stack, "goroutine") {
		t.Errorf("panic log = %+v, want error boom and a stack trace; logs:\n%s", panicLine, logs.String())
	}

	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("request after the panic: status = %d, want 200", rec.Code)
	}
}

func TestOneStructuredLogLinePerRequest(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			cfg := testConfig()
			cfg.LogFormat = format
			var logs bytes.Buffer
			logger, flush := newLogger(cfg, &logs)
			handler := newHandler(logger, new(atomic.Bool))
			handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/missing", nil))
			_ = flush()

			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("got %d log lines, want 2:\n%s", len(lines), logs.String())
			}
			want := []struct {
				uri    string
				status int
			}{{"/", 200}, {"/missing", 404}}
			for i, line := range lines {
				var rec struct {
					Msg, Method, URI string
					Status           int
				}
				if format == "json" {
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatalf("line %d is not JSON: %v: %s", i, err, line)
					}
				} else {
					rec.Msg, rec.URI = textField(line, "msg"), textField(line, "uri")
					rec.Status, _ = strconv.Atoi(textField(line, "status"))
				}
				if rec.Msg != "request" || rec.URI != want[i].uri || rec.Status != want[i].status {
					t.Errorf("line %d = %q, want a request line for %s with status %d", i, line, want[i].uri, want[i].status)
				}
			}
		})
	}
}

func TestProbesLogAtDebugOnly(t *testing.T) {
	for _, probe := range []string{"/healthz", "/readyz"} {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
			cfg := testConfig()
			cfg.LogLevel = level
			var logs bytes.Buffer
			logger, flush := newLogger(cfg, &logs)
			handler := newHandler(logger, new(atomic.Bool))
			handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", probe, nil))
			_ = flush()
			if logged := strings.Contains(logs.String(), probe); logged != (level == slog.LevelDebug) {
				t.Errorf("LOG_LEVEL=%v: %s logged = %v:\n%s", level, probe, logged, logs.String())
			}
		}
	}
}

// textField returns key's value from a slog text line.
func textField(line, key string) string {
	for field := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(field, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
