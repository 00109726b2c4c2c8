package main

import (
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// addRoutes is the one list of the service's routes: add yours here, with
// its handler in handlers.go and a row in TestRoutes.
func addRoutes(e *echo.Echo, draining *atomic.Bool) {
	e.GET("/", handleHello())
	e.GET("/healthz", handleHealthz())
	e.GET("/readyz", handleReadyz(draining))
}
