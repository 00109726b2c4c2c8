package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// behindFront serves handler as the build behind a front with the browser
// half on, and returns the front's URL.
func behindFront(t *testing.T, handler http.HandlerFunc) (*front, *browsers, string) {
	t.Helper()
	f, url := startFront(t)
	b := newBrowsers(f.log, "/src")
	b.attach(f)
	f.switchTo(serving(t, handler))
	return f, b, url
}

// rawResponse sends request (a whole HTTP/1.1 request) to the front at url
// and returns the response exactly as it came over the wire, for the
// checks that http.Client would hide (chunking, Content-Length).
func rawResponse(t *testing.T, url, request string) (head http.Header, status string, body []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(request)))
	resp, err := http.ReadResponse(r, req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) > 0 {
		resp.Header.Set("Transfer-Encoding", strings.Join(resp.TransferEncoding, ","))
	}
	if resp.ContentLength >= 0 && resp.Header.Get("Content-Length") == "" && req.Method != http.MethodHead {
		resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	return resp.Header, resp.Status, body
}

func TestInjectionAddsTheScriptToHTMLPagesOnly(t *testing.T) {
	const page = "<!doctype html><html><body><p>hi</p></body></html>"
	withScript := "<!doctype html><html><body><p>hi</p>" + scriptTag + "</body></html>"
	png := string([]byte{0x89, 'P', 'N', 'G', 0, 0, '<', '/', 'b', 'o', 'd', 'y', '>'})
	for _, tc := range []struct {
		name        string
		contentType string
		encoding    string
		body        string
		want        string
	}{
		{"html page", "text/html; charset=utf-8", "", page, withScript},
		{"html page, upper case", "TEXT/HTML", "", "<BODY>x</BODY>", "<BODY>x" + scriptTag + "</BODY>"},
		{"no </body>", "text/html", "", "<p>a fragment", "<p>a fragment" + scriptTag},
		{"latin-1 page: the script lands before </body> whatever the bytes before it",
			"text/html; charset=iso-8859-1", "", "<body>caf\xe9 \xe9\xe9\xe9</body></html>",
			"<body>caf\xe9 \xe9\xe9\xe9" + scriptTag + "</body></html>"},
		{"utf-8 whose lower case is longer (U+0130)", "text/html; charset=utf-8", "", "<body>\u0130\u0130</body>",
			"<body>\u0130\u0130" + scriptTag + "</body>"},
		{"malformed: </body> twice, the script before the last",
			"text/html", "", "<body><script>s='</body>'</script></body>tail</body>",
			"<body><script>s='</body>'</script></body>tail" + scriptTag + "</body>"},
		{"utf-16 page passes untouched: the tag is not utf-16", "text/html; charset=UTF-16LE", "", "<\x00/\x00b\x00", "<\x00/\x00b\x00"},
		{"no </body>, but one in a script's text: the script at the end, not in the text",
			"text/html", "", "<p>x<script>s='</body>'</script><p>y", "<p>x<script>s='</body>'</script><p>y" + scriptTag},
		{"a script after the last </body>: the element at the end, safe either way",
			"text/html", "", "<body>x</body><script>1</script>", "<body>x</body><script>1</script>" + scriptTag},
		{"empty html", "text/html", "", "", scriptTag},
		{"json", "application/json", "", `{"a":"</body>"}`, `{"a":"</body>"}`},
		{"plain text", "text/plain", "", "</body>", "</body>"},
		{"xhtml is not text/html", "application/xhtml+xml", "", page, page},
		{"binary", "image/png", "", png, png},
		{"no content type", "", "", "", ""},
		{"compressed html passes untouched", "text/html", "gzip", "\x1f\x8b</body>", "\x1f\x8b</body>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil // no sniffing: what the app set, or nothing
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				if tc.encoding != "" {
					w.Header().Set("Content-Encoding", tc.encoding)
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(tc.body)))
				w.Header().Set("X-App", "kept")
				io.WriteString(w, tc.body)
			})
			head, status, body := rawResponse(t, url, "GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
			if string(body) != tc.want {
				t.Errorf("body %q, want %q", body, tc.want)
			}
			if got := head.Get("Content-Length"); got != strconv.Itoa(len(tc.want)) {
				t.Errorf("Content-Length %s for a body of %d bytes", got, len(tc.want))
			}
			if head.Get("X-App") != "kept" || head.Get("Content-Type") != tc.contentType || head.Get("Content-Encoding") != tc.encoding {
				t.Errorf("the app's headers changed: %v", head)
			}
			if status != "200 OK" {
				t.Errorf("status %s", status)
			}
		})
	}
}

// Under a strict policy only a script with the page's nonce runs: the
// element carries the one the app's policy names.
func TestInjectionCarriesTheNonceOfTheAppsPolicy(t *testing.T) {
	const page = "<html><body>x</body></html>"
	for _, tc := range []struct{ policy, want string }{
		{"default-src 'self'", scriptTag},
		{"object-src 'none'; script-src 'NONCE-r4nd/0m+=' 'strict-dynamic'; base-uri 'none'",
			`<script src="` + scriptPath + `" nonce="r4nd/0m+="></script>`},
		{"default-src 'nonce-abc'", `<script src="` + scriptPath + `" nonce="abc"></script>`},
		{"style-src 'nonce-forstyles'", scriptTag},
		{`script-src 'nonce-a"onload="x'`, scriptTag}, // not base64: never written into the page
	} {
		t.Run(tc.policy, func(t *testing.T) {
			_, _, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Content-Security-Policy", tc.policy)
				w.Header().Set("Content-Length", strconv.Itoa(len(page)))
				io.WriteString(w, page)
			})
			head, _, body := rawResponse(t, url, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if want := "<html><body>x" + tc.want + "</body></html>"; string(body) != want {
				t.Errorf("body %q, want %q", body, want)
			}
			if head.Get("Content-Length") != strconv.Itoa(len(body)) || head.Get("Content-Security-Policy") != tc.policy {
				t.Errorf("headers %v for a body of %d bytes", head, len(body))
			}
		})
	}
}

func TestInjectionHeadGetsTheLengthOfTheInjectedPage(t *testing.T) {
	const page = "<html><body>x</body></html>"
	_, _, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		if r.Method != http.MethodHead {
			io.WriteString(w, page)
		}
	})
	head, _, body := rawResponse(t, url, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	if len(body) != 0 {
		t.Errorf("HEAD got a body: %q", body)
	}
	if got, want := head.Get("Content-Length"), strconv.Itoa(len(page)+len(scriptTag)); got != want {
		t.Errorf("HEAD Content-Length %s, want %s: what GET would send", got, want)
	}
	getHead, _, getBody := rawResponse(t, url, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if getHead.Get("Content-Length") != head.Get("Content-Length") || strconv.Itoa(len(getBody)) != head.Get("Content-Length") {
		t.Errorf("GET sent %d bytes, Content-Length %s; HEAD said %s", len(getBody), getHead.Get("Content-Length"), head.Get("Content-Length"))
	}
}

func TestInjectionLeavesNotModifiedAndPartialContentAlone(t *testing.T) {
	for _, status := range []int{http.StatusNotModified, http.StatusNoContent, http.StatusPartialContent} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			body := ""
			if status == http.StatusPartialContent {
				body = "<p>part</body>"
			}
			_, _, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("ETag", `"v1"`)
				w.WriteHeader(status)
				io.WriteString(w, body)
			})
			head, got, gotBody := rawResponse(t, url, "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"v1\"\r\n\r\n")
			if !strings.HasPrefix(got, strconv.Itoa(status)) || string(gotBody) != body || head.Get("ETag") != `"v1"` {
				t.Errorf("got %s %q %v, want %d %q untouched", got, gotBody, head, status, body)
			}
		})
	}
}

// A page the app streams in parts (chunked, flushed) reaches the browser in
// those parts: the front does not wait for the end of the page.
func TestInjectionStreamsChunkedPages(t *testing.T) {
	firstPart := make(chan struct{})
	rest := make(chan struct{})
	_, _, url := behindFront(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body><p>first</p>")
		w.(http.Flusher).Flush()
		<-rest
		io.WriteString(w, "<p>second</p></body></html>")
	})
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("a page the app streams came with %v, not chunked", resp.TransferEncoding)
		}
		buf := make([]byte, 64)
		n, _ := resp.Body.Read(buf)
		if !strings.Contains(string(buf[:n]), "first") {
			t.Errorf("first read %q", buf[:n])
		}
		close(firstPart)
		all, _ := io.ReadAll(resp.Body)
		got <- string(buf[:n]) + string(all)
	}()
	select { // the first part arrives while the app still holds the rest
	case <-firstPart:
	case <-time.After(10 * time.Second):
		close(rest)
		t.Fatalf("the first part of the page was held back until the app sent the rest")
	}
	close(rest)
	if want := "<html><body><p>first</p><p>second</p>" + scriptTag + "</body></html>"; <-got != want {
		t.Errorf("streamed page: want %q", want)
	}
}

// Wherever the reads split the page, even inside "</body>", the script
// lands in the same place, and every byte arrives once.
func TestInjectorAcrossReadBoundaries(t *testing.T) {
	const page = "<html><body><p>x</p></BoDy>\n</html>\n"
	want := "<html><body><p>x</p>" + scriptTag + "</BoDy>\n</html>\n"
	for size := 1; size <= len(page); size++ {
		in := &injector{src: io.NopCloser(&chunked{data: page, size: size}), tag: []byte(scriptTag), chunk: make([]byte, size)}
		got, err := io.ReadAll(in)
		if err != nil || string(got) != want {
			t.Fatalf("reads of %d bytes: %q, %v; want %q", size, got, err, want)
		}
	}
}

// chunked hands out data size bytes at a time.
type chunked struct {
	data string
	size int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.data == "" {
		return 0, io.EOF
	}
	n := copy(p, c.data[:min(c.size, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// A page whose body ends early gets no script: the browser sees the same
// cut-off page it would have without devloop, to its last byte.
func TestInjectorPassesAReadErrorOn(t *testing.T) {
	for _, part := range []string{"<body>part", "<body>part</bo", "<body>part</body></ht"} {
		for _, tc := range []struct {
			how string
			src io.Reader
		}{
			{"then an error", io.MultiReader(strings.NewReader(part), iotest.ErrReader(errors.New("connection reset")))},
			{"with an error", &cutShort{part}},
		} {
			in := &injector{src: io.NopCloser(tc.src), tag: []byte(scriptTag), chunk: make([]byte, 64)}
			got, err := io.ReadAll(in)
			if err == nil || string(got) != part {
				t.Errorf("%q %s: got %q, %v; want it as it came, and the error", part, tc.how, got, err)
			}
		}
	}
}

// cutShort returns its data and an error in one read, as io.Reader may.
type cutShort struct{ data string }

func (c *cutShort) Read(p []byte) (int, error) {
	return copy(p, c.data), errors.New("connection reset")
}
