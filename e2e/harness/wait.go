package harness

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

var client = http.Client{Timeout: 5 * time.Second}

// Get fetches url once and returns its status and body.
func Get(url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// pollInterval is short because the bench times reloads with WaitBody: the
// interval is the resolution of its figures.
const pollInterval = 5 * time.Millisecond

// Eventually polls cond until it holds and returns how long that took. The
// timeout only bounds a broken run; it is no performance claim. cond's
// string says what it saw last, for the failure message.
func Eventually(t TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	return eventuallyEvery(t, timeout, pollInterval, what, cond)
}

func eventuallyEvery(t TB, timeout, interval time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		var ok bool
		if ok, last = cond(); ok {
			return time.Since(start)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-time.After(interval):
		}
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
	return 0
}

// WaitBody waits until GET url answers 200 with want, and returns how long
// that took.
func WaitBody(t TB, timeout time.Duration, url, want string) time.Duration {
	t.Helper()
	return WaitBodyEvery(t, timeout, pollInterval, url, want)
}

// WaitBodyEvery is WaitBody asking every interval: a longer one loads the
// server less, at the cost of resolution.
func WaitBodyEvery(t TB, timeout, interval time.Duration, url, want string) time.Duration {
	t.Helper()
	return eventuallyEvery(t, timeout, interval, fmt.Sprintf("GET %s to answer %q", url, want), func() (bool, string) {
		status, body, err := Get(url)
		if err != nil {
			return false, err.Error()
		}
		return status == http.StatusOK && body == want, fmt.Sprintf("%d %.80q", status, body)
	})
}
