package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func testConfig() config {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return cfg
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		target      string
		body        string
		wantStatus  int
		wantType    string
		wantBody    string
		wantBodyHas string
	}{
		{name: "hello", method: "GET", target: "/", wantStatus: 200, wantType: "text/plain; charset=UTF-8", wantBody: "Hello, World!"},
		{name: "health", method: "GET", target: "/healthz", wantStatus: 200, wantType: "application/json", wantBody: `{"status":"ok"}` + "\n"},
		{name: "unknown path", method: "GET", target: "/nope", wantStatus: 404, wantType: "application/json", wantBodyHas: `"message":"Not Found"`},
		{name: "wrong method", method: "DELETE", target: "/", wantStatus: 405, wantType: "application/json", wantBodyHas: `"message":"Method Not Allowed"`},
		{name: "body over limit", method: "POST", target: "/", body: strings.Repeat("x", 1<<20+1), wantStatus: 413, wantType: "application/json"},
		{name: "uri over limit", method: "GET", target: "/?q=" + strings.Repeat("a", maxURIBytes), wantStatus: 414, wantType: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(testConfig(), slog.New(slog.DiscardHandler))
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body)))

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBodyHas) {
				t.Errorf("body = %q, want it to contain %q", rec.Body.String(), tt.wantBodyHas)
			}
		})
	}
}

func TestPanicIsLoggedAnswered500AndServingGoesOn(t *testing.T) {
	var logs bytes.Buffer
	srv := newServer(testConfig(), newLogger(testConfig(), &logs))
	srv.Handler.(*echo.Echo).GET("/panic", func(echo.Context) error { panic("boom") })

	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
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
	srv.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
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
			srv := newServer(cfg, newLogger(cfg, &logs))
			srv.Handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			srv.Handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/missing", nil))

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

func TestHealthChecksLogAtDebugOnly(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		cfg := testConfig()
		cfg.LogLevel = level
		var logs bytes.Buffer
		srv := newServer(cfg, newLogger(cfg, &logs))
		srv.Handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
		if logged := strings.Contains(logs.String(), "/healthz"); logged != (level == slog.LevelDebug) {
			t.Errorf("LOG_LEVEL=%v: health check logged = %v:\n%s", level, logged, logs.String())
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
