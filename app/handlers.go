package main

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func handleHello() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.String(http.StatusOK, "Hello, World!")
	}
}

// handleHealthz answers liveness probes: the process is up and serving.
func handleHealthz() echo.HandlerFunc {
	type health struct {
		Status string `json:"status"`
	}
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, health{Status: "ok"})
	}
}
