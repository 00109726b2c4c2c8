package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string // substring of the error; empty means no error
	}{
		{
			name: "defaults",
			want: config{Port: 1323, ShutdownTimeout: 5 * time.Second, LogFormat: "json", LogLevel: slog.LevelInfo, LogFlushInterval: 100 * time.Millisecond},
		},
		{
			name: "everything set",
			env:  map[string]string{"PORT": "8080", "DRAIN_DELAY": "5s", "SHUTDOWN_TIMEOUT": "2500ms", "LOG_FORMAT": "text", "LOG_LEVEL": "debug", "LOG_FLUSH_INTERVAL": "0s"},
			want: config{Port: 8080, DrainDelay: 5 * time.Second, ShutdownTimeout: 2500 * time.Millisecond, LogFormat: "text", LogLevel: slog.LevelDebug},
		},
		{name: "port not a number", env: map[string]string{"PORT": "abc"}, wantErr: `PORT="abc"`},
		{name: "port zero", env: map[string]string{"PORT": "0"}, wantErr: `PORT="0"`},
		{name: "port too big", env: map[string]string{"PORT": "65536"}, wantErr: `PORT="65536"`},
		{name: "drain delay without unit", env: map[string]string{"DRAIN_DELAY": "5"}, wantErr: `DRAIN_DELAY="5"`},
		{name: "negative drain delay", env: map[string]string{"DRAIN_DELAY": "-1s"}, wantErr: `DRAIN_DELAY="-1s"`},
		{name: "timeout without unit", env: map[string]string{"SHUTDOWN_TIMEOUT": "5"}, wantErr: `SHUTDOWN_TIMEOUT="5"`},
		{name: "negative timeout", env: map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, wantErr: `SHUTDOWN_TIMEOUT="-1s"`},
		{name: "unknown log format", env: map[string]string{"LOG_FORMAT": "xml"}, wantErr: `LOG_FORMAT="xml"`},
		{name: "flush interval without unit", env: map[string]string{"LOG_FLUSH_INTERVAL": "100"}, wantErr: `LOG_FLUSH_INTERVAL="100"`},
		{name: "unknown log level", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: `LOG_LEVEL="loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// testConfig is the configuration with every variable unset: the defaults.
func testConfig() config {
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return cfg
}
