package harness

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
)

// The tests test the template's machinery, never the sample's content: a
// user changes GET / first. What they rely on in a project is only what
// docs/testing.md asks the user to keep (among it addRoutes in
// app/routes.go, whose first parameter is the *echo.Echo routes are added
// to) and a route of their own, which AddMarker adds to a scratch copy: a
// body the test controls, that it edits to see a reload.

// MarkerPath is the marker route's path: zz-e2e, unlikely to be a user's.
const MarkerPath = "/zz-e2e"

// markerFile is where the marker's handler lives in a copy: zz_e2e_ is a
// prefix no user's file has, so the copy never loses or overwrites one.
const markerFile = "app/zz_e2e_marker.go"

// addRoutesLine finds the opening line of addRoutes and the name of its
// *echo.Echo parameter.
var addRoutesLine = regexp.MustCompile(`(?m)^func addRoutes\((\w+) \*echo\.Echo.*\{\n`)

// AddMarker adds the marker route to the copy of the repository in repo:
// GET MarkerPath answers text (200, text/plain). It returns the file that
// holds text, the one a test edits: it imports net/http and echo, and text
// is in it once, as a Go string literal.
func AddMarker(t TB, repo, text string) string {
	t.Helper()
	routes := filepath.Join(repo, "app", "routes.go")
	source := ReadFile(t, routes)
	m := addRoutesLine.FindStringSubmatchIndex(source)
	if m == nil {
		t.Fatalf("%s has no `func addRoutes(e *echo.Echo, ...) {`: the tests add their route there (docs/testing.md says what a project keeps)", routes)
	}
	echo := source[m[2]:m[3]]
	WriteFile(t, routes, source[:m[1]]+fmt.Sprintf("\t%s.GET(%q, zzE2EMarker) // the end-to-end tests' route\n", echo, MarkerPath)+source[m[1]:])
	file := MarkerFile(repo)
	WriteFile(t, file, MarkerSource(text))
	return file
}

// MarkerFile is the marker's file in the copy of the repository in repo,
// for code that edits it where AddMarker's answer is not at hand (a copy of
// a copy, a copy inside a container).
func MarkerFile(repo string) string {
	return filepath.Join(repo, markerFile)
}

// MarkerSource is the marker's file answering text.
func MarkerSource(text string) string {
	return `package main

// Added by go-webapp's end-to-end tests to their scratch copy: a route
// whose answer they control.

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func zzE2EMarker(c echo.Context) error {
	return c.String(http.StatusOK, ` + strconv.Quote(text) + `)
}
`
}
