package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
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

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// newServer is the one place where middleware and routes are wired.
func newServer(cfg config, logger *slog.Logger) *http.Server {
	e := echo.New()
	// The client's address is the TCP peer's: X-Forwarded-For is trusted only
	// once you put a proxy you control in front (see echo's IP extractors).
	e.IPExtractor = echo.ExtractIPDirect()
	e.Pre(limitURI(maxURIBytes))
	e.Use(
		requestLogger(logger),
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				logger.Error("panic recovered", "error", err, "method", c.Request().Method,
					"uri", c.Request().RequestURI, "stack", string(stack))
				return err // answered 500 by the error handler
			},
		}),
		middleware.BodyLimit(bodyLimit),
	)
	addRoutes(e)

	return &http.Server{
		Addr:              net.JoinHostPort("", strconv.Itoa(cfg.Port)),
		Handler:           e,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

func addRoutes(e *echo.Echo) {
	e.GET("/", handleHello())
	e.GET("/healthz", handleHealthz())
}

// requestLogger writes one structured line per request. Successful health
// checks are logged at debug level: probes every few seconds would drown the
// lines that matter.
func requestLogger(logger *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError:  true, // let the error handler pick the status before it is logged
		LogMethod:    true,
		LogURI:       true,
		LogRoutePath: true,
		LogStatus:    true,
		LogLatency:   true,
		LogRemoteIP:  true,
		LogError:     true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			switch {
			case v.Status >= http.StatusInternalServerError:
				level = slog.LevelError
			case v.RoutePath == "/healthz" && v.Status == http.StatusOK:
				level = slog.LevelDebug
			}
			attrs := []slog.Attr{
				slog.String("method", v.Method),
				slog.String("uri", v.URI),
				slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency),
				slog.String("remote_ip", v.RemoteIP),
			}
			if v.Error != nil {
				attrs = append(attrs, slog.String("error", v.Error.Error()))
			}
			logger.LogAttrs(context.Background(), level, "request", attrs...)
			return nil
		},
	})
}

// limitURI answers 414 to request targets longer than max bytes; net/http
// only caps the request line and headers together (431).
func limitURI(max int) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if len(c.Request().RequestURI) > max {
				return echo.NewHTTPError(http.StatusRequestURITooLong)
			}
			return next(c)
		}
	}
}
