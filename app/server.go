package main

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// Limits a client cannot talk the server out of. The timeouts bound how long
// a slow or idle client holds a connection (gosec G112/G114); the size limits
// bound what a request may make the server read.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 32 << 10 // beyond this, net/http answers 431
	maxURIBytes       = 8 << 10  // beyond this, 414
	bodyLimit         = "1M"     // beyond this, 413 without reading the body
)

// newHandler is the whole application as an http.Handler: echo with the
// middleware and the routes. Tests serve requests with it directly.
// draining is set by run when shutdown begins; /readyz reports it.
func newHandler(logger *slog.Logger, draining *atomic.Bool) *echo.Echo {
	e := echo.New()
	// The client's address is the TCP peer's: X-Forwarded-For is trusted only
	// once you put a proxy you control in front (see echo's IP extractors).
	e.IPExtractor = echo.ExtractIPDirect()
	addMiddleware(e, logger, draining)
	addRoutes(e, draining)
	return e
}

// newServer puts handler behind net/http with the limits above.
func newServer(cfg config, handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              net.JoinHostPort("", strconv.Itoa(cfg.Port)),
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
