package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// config is everything the service reads from its environment; README.md
// has the same table for users.
type config struct {
	Port            int           // PORT
	DrainDelay      time.Duration // DRAIN_DELAY: how long to serve, not ready, before shutting down
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: below Docker's 10 s stop grace period
	LogFormat       string        // LOG_FORMAT: json or text
	LogLevel        slog.Level    // LOG_LEVEL: debug, info, warn or error
	// LOG_FLUSH_INTERVAL: the longest an info line waits in the log buffer;
	// 0 writes each line at once (see newLogger).
	LogFlushInterval time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		Port:             1323,
		ShutdownTimeout:  5 * time.Second,
		LogFormat:        "json",
		LogLevel:         slog.LevelInfo,
		LogFlushInterval: 100 * time.Millisecond,
	}
	if v := getenv("PORT"); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 1 || port > 65535 {
			return cfg, fmt.Errorf("PORT=%q: want a port number from 1 to 65535", v)
		}
		cfg.Port = port
	}
	if v := getenv("DRAIN_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("DRAIN_DELAY=%q: want a duration such as 5s, or 0s", v)
		}
		cfg.DrainDelay = d
	}
	if v := getenv("SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("SHUTDOWN_TIMEOUT=%q: want a positive duration such as 5s", v)
		}
		cfg.ShutdownTimeout = d
	}
	if v := getenv("LOG_FORMAT"); v != "" {
		if v != "json" && v != "text" {
			return cfg, fmt.Errorf("LOG_FORMAT=%q: want json or text", v)
		}
		cfg.LogFormat = v
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return cfg, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", v)
		}
	}
	if v := getenv("LOG_FLUSH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("LOG_FLUSH_INTERVAL=%q: want a duration such as 100ms, or 0s to write each line at once", v)
		}
		cfg.LogFlushInterval = d
	}
	return cfg, nil
}
