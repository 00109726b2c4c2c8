package main

import (
	"net/http"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

func handleHello() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.String(http.StatusOK, "Hello, World!")
	}
}

type status struct {
	Status string `json:"status"`
}

// handleHealthz answers liveness probes: the process is up and serving.
func handleHealthz() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, status{Status: "ok"})
	}
}

// handleReadyz answers readiness probes: 503 from the moment the server
// begins to shut down, so that load balancers send it no new connections
// while it finishes the ones it has (see run's drain).
func handleReadyz(draining *atomic.Bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		if draining.Load() {
			return c.JSON(http.StatusServiceUnavailable, status{Status: "draining"})
		}
		return c.JSON(http.StatusOK, status{Status: "ready"})
	}
}
