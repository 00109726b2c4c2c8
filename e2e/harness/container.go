package harness

import (
	"strings"
	"time"
)

// Container is a container started by StartContainer.
type Container struct {
	t    TB
	Name string
	Addr string // 127.0.0.1:<the port Docker published 1323 on>
	URL  string // http://Addr
	// Started is when docker run was called, for start-up figures.
	Started time.Time
}

// StartContainer runs image detached, with docker run's flags and the
// command after the image, publishes its port 1323 on a port of 127.0.0.1
// that Docker picks, and removes it when the test ends (showing its logs
// when the test failed).
func StartContainer(t TB, image string, flags []string, command ...string) *Container {
	t.Helper()
	c := &Container{t: t, Name: UniqueName("go-webapp-e2e-")}
	args := append([]string{"run", "-d", "--name", c.Name, "-p", "127.0.0.1::1323"}, flags...)
	args = append(append(args, image), command...)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := cleanupDocker("logs", c.Name)
			t.Logf("logs of %s:\n%s", c.Name, logs)
		}
		_, _ = cleanupDocker("rm", "-f", "-v", c.Name)
	})
	c.Started = time.Now()
	Docker(t, args...)
	c.Addr = publishedAddr(t, Docker(t, "port", c.Name, "1323/tcp"))
	c.URL = "http://" + c.Addr
	return c
}

// publishedAddr picks the 127.0.0.1 line of `docker port` output.
func publishedAddr(t TB, out string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if addr := strings.TrimSpace(line); strings.HasPrefix(addr, "127.0.0.1:") {
			return addr
		}
	}
	t.Fatalf("no port published on 127.0.0.1: %q", out)
	return ""
}

// Inspect returns the container's fields in a Go template, as docker inspect
// --format prints them.
func (c *Container) Inspect(format string) string {
	c.t.Helper()
	return Inspect(c.t, c.Name, format)
}

// Inspect is docker inspect --format for any container or image.
func Inspect(t TB, ref, format string) string {
	t.Helper()
	return Docker(t, "inspect", "--format", format, ref)
}

func (c *Container) Logs() string {
	c.t.Helper()
	return Docker(c.t, "logs", c.Name)
}

// Stop runs docker stop and returns how long it took.
func (c *Container) Stop() time.Duration {
	c.t.Helper()
	start := time.Now()
	Docker(c.t, "stop", c.Name)
	return time.Since(start)
}
