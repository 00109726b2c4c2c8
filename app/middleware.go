package main

import (
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// addMiddleware wraps every route: the URI limit and the drain's
// Connection: close run before routing, then the request log, panic recovery
// and the body limit, outermost first.
func addMiddleware(e *echo.Echo, logger *slog.Logger, draining *atomic.Bool) {
	e.Pre(limitURI(maxURIBytes), closeConnectionsWhileDraining(draining))
	e.Use(
		requestLogger(logger),
		recoverPanics(logger),
		middleware.BodyLimit(bodyLimit),
	)
}

// requestLogger writes one structured line per request. Successful probes
// are logged at debug level: probes every few seconds would drown the lines
// that matter.
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
			case (v.RoutePath == "/healthz" || v.RoutePath == "/readyz") && v.Status == http.StatusOK:
				level = slog.LevelDebug
			}
			if !logger.Enabled(c.Request().Context(), level) {
				return nil
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
			logger.LogAttrs(c.Request().Context(), level, "request", attrs...)
			return nil
		},
	})
}

// recoverPanics turns a panicking handler into a 500 and one error line with
// the stack, through the service's logger rather than echo's own.
func recoverPanics(logger *slog.Logger) echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			logger.Error("panic recovered", "error", err, "method", c.Request().Method,
				"uri", c.Request().RequestURI, "stack", string(stack))
			return err // answered 500 by the error handler
		},
	})
}

// closeConnectionsWhileDraining answers with Connection: close once shutdown
// has begun, so each keep-alive client opens its next connection wherever the
// load balancer sends it now. Unlike http.Server.SetKeepAlivesEnabled(false),
// it never closes an idle connection under a client that is sending a
// request on it at that moment.
func closeConnectionsWhileDraining(draining *atomic.Bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if draining.Load() {
				c.Response().Header().Set(echo.HeaderConnection, "close")
			}
			return next(c)
		}
	}
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
