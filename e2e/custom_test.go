package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"e2e/harness"
)

// yours is what makeItYours makes of the sample: someone's own service.
var yours = struct {
	greeting, module, image string
	dependencies            []string // beside Echo: a second and a third
}{
	greeting:     "Welcome to the shop!",
	module:       "example.com/shop",
	image:        "shop",
	dependencies: []string{"github.com/google/uuid@v1.6.0", "github.com/dustin/go-humanize@v1.1.0"},
}

// customised says the suite runs on a copy made someone's own by
// makeItYours (in the template's repository, not in a user's project).
var customised bool

// sampleModule is the template's own module path: a project that still
// has it was not renamed (README, "Making it yours", step 1).
const sampleModule = "github.com/go-webapp/go-webapp"

// addedByMakeItYours are the files makeItYours adds, besides its edits: a
// project that has one already is not the sample, and makeItYours would
// overwrite it.
var addedByMakeItYours = []string{ordersFile, "app/pages.go", "app/templates"}

// ordersFile holds the route makeItYours adds on two more modules.
const ordersFile = "app/orders.go"

// isTheSample tells whether repo is still the template's sample, which
// makeItYours knows how to change: its greeting, module path and image
// name, and none of the files makeItYours adds. If not, why not.
func isTheSample(t harness.TB, repo string) (bool, string) {
	t.Helper()
	// Your project may have no app/handlers.go any more.
	handlers, _ := os.ReadFile(filepath.Join(repo, "app", "handlers.go"))
	switch {
	case !sampleGreeting.Match(handlers):
		return false, "app/handlers.go has no handleHello answering a string"
	case harness.ModulePath(t, repo) != sampleModule:
		return false, "the module path is " + harness.ModulePath(t, repo)
	case !sampleImageLine.MatchString(harness.ReadFile(t, filepath.Join(repo, "Makefile"))):
		return false, "the Makefile's IMAGE is not go-webapp"
	}
	for _, added := range addedByMakeItYours {
		if _, err := os.Stat(filepath.Join(repo, added)); err == nil {
			return false, "it has " + added + " already"
		}
	}
	return true, ""
}

// notTheSample says why TestMain did not customise the project (empty when
// it did).
var notTheSample string

// makeItYours changes the copy of the repository in repo the way the README
// ("Making it yours") and docs/development.md tell a user to: GET / says
// something else, with its unit tests updated; an HTML page with an
// embedded template, the example of docs/development.md, read from there
// so the docs cannot drift from what works; a route using two more direct
// dependencies, added with go get and go mod tidy; the module path and
// IMAGE renamed. Every other end-to-end test then runs on this project.
func makeItYours(t harness.TB, repo string) {
	t.Helper()
	app := func(file string) string { return filepath.Join(repo, "app", file) }

	// GET / and the rows of TestRoutes that know its answer, whatever the
	// sample says today.
	m := sampleGreeting.FindStringSubmatch(harness.ReadFile(t, app("handlers.go")))
	if m == nil {
		t.Fatalf("app/handlers.go has no handleHello answering a string: update makeItYours with the docs")
	}
	greeting := m[1]
	harness.ReplaceIn(t, app("handlers.go"), greeting, fmt.Sprintf("%q", yours.greeting))
	routesTest := harness.ReadFile(t, app("routes_test.go"))
	if !strings.Contains(routesTest, greeting) {
		t.Fatalf("app/routes_test.go does not test GET /'s answer %s: update makeItYours with the docs", greeting)
	}
	harness.WriteFile(t, app("routes_test.go"), strings.ReplaceAll(routesTest, greeting, fmt.Sprintf("%q", yours.greeting)))

	// The page of docs/development.md, file by file as it gives them.
	for file, code := range docExample(t) {
		switch file {
		case "app/routes.go":
			insertAfter(t, app("routes.go"), `e.GET("/", `, code)
		case "app/routes_test.go":
			insertAfter(t, app("routes_test.go"), `{name: "hello",`, code)
		default:
			harness.WriteFile(t, filepath.Join(repo, file), code+"\n")
		}
	}

	// A route of its own on two more modules.
	harness.WriteFile(t, filepath.Join(repo, ordersFile), `package main

import (
	"net/http"

	"github.com/dustin/go-humanize"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// handleOrder names an order: the same name, the same id.
func handleOrder() echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("name")
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(name))
		return c.String(http.StatusOK, id.String()+" is your "+humanize.Ordinal(len(name))+" order")
	}
}
`)
	insertAfter(t, app("routes.go"), `e.GET("/", `, "\te.GET(\"/orders/:name\", handleOrder())")
	insertAfter(t, app("routes_test.go"), `{name: "hello",`,
		"\t\t{name: \"order\", method: \"GET\", target: \"/orders/ada\", wantStatus: 200, wantType: \"text/plain; charset=UTF-8\", wantBodyHas: \" is your 3rd order\"},")
	harness.Command(t, repo, nil, "go", append([]string{"get"}, yours.dependencies...)...)
	harness.Command(t, repo, nil, "go", "mod", "tidy")

	// The names, each written once.
	harness.Command(t, repo, nil, "go", "mod", "edit", "-module", yours.module)
	makefile := filepath.Join(repo, "Makefile")
	harness.WriteFile(t, makefile, sampleImageLine.ReplaceAllString(harness.ReadFile(t, makefile), "IMAGE${1}?= "+yours.image))
}

// sampleGreeting finds the string literal the sample's handleHello
// answers GET / with.
var sampleGreeting = regexp.MustCompile(`(?s)func handleHello\(\) echo\.HandlerFunc \{.*?c\.String\(http\.StatusOK, ("[^"]*")\)`)

// sampleImageLine is where the Makefile names the sample's image.
var sampleImageLine = regexp.MustCompile(`(?m)^IMAGE(\s+)\?= go-webapp$`)

// insertAfter inserts lines after the first line of file that contains
// anchor.
func insertAfter(t harness.TB, file, anchor, lines string) {
	t.Helper()
	source := harness.ReadFile(t, file)
	i := strings.Index(source, anchor)
	if i < 0 {
		t.Fatalf("%s has no line with %q", file, anchor)
	}
	end := i + strings.Index(source[i:], "\n") + 1
	harness.WriteFile(t, file, source[:end]+lines+"\n"+source[end:])
}

// docExample reads the HTML page example from the section "HTML pages and
// static files" of docs/development.md: each code block there follows a
// paragraph ending with the file it belongs to, in backquotes, and a colon.
func docExample(t harness.TB) map[string]string {
	t.Helper()
	doc := harness.ReadFile(t, filepath.Join(harness.RepoRoot(), "docs", "development.md"))
	_, section, ok := strings.Cut(doc, "\n## HTML pages and static files\n")
	if !ok {
		t.Fatalf("docs/development.md has no section \"HTML pages and static files\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)`([^`\n]+)`:\n\n```[a-z]*\n(.*?)\n```").FindAllStringSubmatch(section, -1)
	example := map[string]string{}
	for _, b := range blocks {
		example[b[1]] = b[2]
	}
	for _, want := range []string{"app/pages.go", "app/templates/hello.html", "app/routes.go", "app/routes_test.go"} {
		if example[want] == "" {
			t.Fatalf("the HTML page example in docs/development.md has no block for %s (found %d blocks)", want, len(blocks))
		}
	}
	return example
}

// TestMakeItYours: the copy every other test runs on is someone's own, made
// the documented way, and it holds: its unit tests (updated with GET /)
// pass, go.mod is tidy with three direct dependencies under the new module
// path, the Makefile names the new image, and the production image serves
// the page from its embedded template and the route on the new modules.
func TestMakeItYours(t *testing.T) {
	if !customised {
		// In the template's own repository this test must not vanish
		// because its sample changed: there the module path is still the
		// template's. A project of yours has its own (README, step 1).
		if module := harness.ModulePath(t, harness.RepoRoot()); module == sampleModule {
			t.Fatalf("the module path is the template's (%s), but the project is not the sample (%s): in the template, update isTheSample and makeItYours with the sample; in your project, rename the module (go mod edit -module, README's \"Making it yours\")", module, notTheSample)
		}
		t.Skipf("this project is someone's own already (%s): the suite tests it as it is", notTheSample)
	}
	t.Parallel()
	repo := harness.CopyRepo(t)
	harness.Command(t, repo, nil, "go", "vet", "./...")
	harness.Command(t, repo, nil, "go", "test", "-count=1", "./...")
	harness.Command(t, repo, nil, "go", "mod", "tidy", "-diff")
	if module := harness.ModulePath(t, repo); module != yours.module {
		t.Errorf("module %s, want %s", module, yours.module)
	}
	direct := strings.Fields(harness.Command(t, repo, nil, "go", "list", "-m", "-f", "{{if not (or .Main .Indirect)}}{{.Path}}{{end}}", "all"))
	if len(direct) != 1+len(yours.dependencies) {
		t.Errorf("direct requirements %q, want Echo and %q", direct, yours.dependencies)
	}
	if image := harness.MakeVariable(t, "IMAGE"); image != yours.image {
		t.Errorf("make's IMAGE is %s, want %s", image, yours.image)
	}

	c := harness.StartContainer(t, makeImage(t, "prod"), nil)
	harness.WaitBody(t, 30*time.Second, c.URL+"/", yours.greeting)
	for path, want := range map[string]string{
		"/hello/e2e":  "<h1>Hello, e2e!</h1>",
		"/orders/ada": " is your 3rd order",
	} {
		status, body, err := harness.Get(c.URL + path)
		if err != nil || status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s in the production image: %d %.200q %v, want 200 with %q", path, status, body, err, want)
		}
	}
}
