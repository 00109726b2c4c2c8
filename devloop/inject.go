package main

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// injection is what changes in a page the app serves: the one element that
// loads devloop's page script (browser.go) from the front's reserved path.
// Nothing else in any response changes.

// bodyEnd is where the script reference goes: before the last </body>, so
// a "</body>" inside an inline script or a comment earlier in the page is
// left alone. A page without one gets it at the end, where browsers put it
// in the body all the same; so does a page whose last "</body>" has a
// </script> after it: that one may be text inside a script (the end tag is
// optional), where the element would end the script early.
var (
	bodyEnd   = []byte("</body>")
	scriptEnd = []byte("</script")
)

// injectable says whether resp is a whole HTML page the script may be added
// to, and if not, why (for the log). Compressed pages pass untouched:
// devloop would have to decompress and compress again every page with an
// encoding the app chose (docs/development.md, "The browser").
func injectable(resp *http.Response) (ok bool, whyNot string) {
	switch {
	case resp.StatusCode < 200, resp.StatusCode == http.StatusNoContent,
		resp.StatusCode == http.StatusPartialContent, resp.StatusCode == http.StatusNotModified:
		return false, "" // no body, or a part of one: a 304's page is the one the browser has, injected already
	}
	mediaType, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mediaType != "text/html" {
		return false, ""
	}
	if charset := strings.ToLower(params["charset"]); strings.HasPrefix(charset, "utf-16") || strings.HasPrefix(charset, "utf-32") {
		// The tag is ASCII, which these charsets are not: added, it would
		// corrupt the page.
		return false, "charset " + charset
	}
	if strings.HasPrefix(strings.ToLower(resp.Header.Get("Content-Disposition")), "attachment") {
		return false, "" // a download, not a page
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return false, "compressed (Content-Encoding: " + enc + ")"
	}
	return true, ""
}

// scriptTagFor is the element for a page with header h. A strict
// Content-Security-Policy (`script-src 'nonce-…' 'strict-dynamic'`) runs
// only the scripts that carry the page's nonce, and then ignores 'self':
// the element carries the nonce the policy names, if any.
func scriptTagFor(h http.Header) string {
	if nonce := cspNonce(h.Values("Content-Security-Policy")); nonce != "" {
		return `<script src="` + scriptPath + `" nonce="` + nonce + `"></script>`
	}
	return scriptTag
}

// cspNonce is the first nonce that policies allow scripts with, or "".
func cspNonce(policies []string) string {
	for _, policy := range policies {
		// A comma separates policies in one header, a semicolon directives.
		for _, directive := range strings.FieldsFunc(policy, func(r rune) bool { return r == ';' || r == ',' }) {
			fields := strings.Fields(directive)
			if len(fields) == 0 {
				continue
			}
			switch strings.ToLower(fields[0]) {
			case "script-src-elem", "script-src", "default-src":
			default:
				continue
			}
			for _, source := range fields[1:] {
				nonce, ok := strings.CutSuffix(source, "'")
				if ok && len(nonce) > len("'nonce-") && strings.EqualFold(nonce[:len("'nonce-")], "'nonce-") {
					nonce = nonce[len("'nonce-"):]
					if strings.Trim(nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=") == "" {
						return nonce // base64: nothing that could end the attribute
					}
				}
			}
		}
	}
	return ""
}

// inject adds tag to resp, a page injectable accepted, as it streams
// through: the body is not read ahead, so a page the app flushes in parts
// reaches the browser in those parts. Content-Length, when the app sent
// one, grows by the tag's length; a HEAD response only says so.
func inject(resp *http.Response, tag string) {
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n + int64(len(tag))
		resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	if resp.Request != nil && resp.Request.Method == http.MethodHead {
		return
	}
	resp.Body = &injector{src: resp.Body, tag: []byte(tag), chunk: make([]byte, 32<<10)}
}

// injector is a page's body with tag inserted before its last </body>, or
// at its end. It hands on everything up to the newest </body> it has seen
// as soon as it has read it, and holds back only what follows that
// </body> (usually "</body></html>"), until a later one or the end.
type injector struct {
	src     io.ReadCloser
	tag     []byte
	chunk   []byte
	pending []byte // read but not handed on: from the last </body>, or a possible start of one
	holding bool   // pending starts with a </body>
	ready   []byte // to hand on
	err     error  // io.EOF at the end, or the error that cut the page short; returned once ready is handed on
}

func (in *injector) Read(p []byte) (int, error) {
	for len(in.ready) == 0 {
		if in.err != nil {
			return 0, in.err
		}
		n, err := in.src.Read(in.chunk)
		if n > 0 {
			in.take(in.chunk[:n])
		}
		switch {
		case err == io.EOF:
			if in.holding && !bytes.Contains(asciiLower(in.pending), scriptEnd) {
				in.ready = append(append(in.ready, in.tag...), in.pending...)
			} else {
				in.ready = append(append(in.ready, in.pending...), in.tag...)
			}
		case err != nil:
			// A page cut short gets no script (its end never came), and
			// every byte of it that came: the browser sees what it would
			// without devloop.
			in.ready = append(in.ready, in.pending...)
		}
		if err != nil {
			in.pending, in.err = nil, err
		}
	}
	n := copy(p, in.ready)
	in.ready = in.ready[n:]
	return n, nil
}

// take adds data to what was read, and moves to ready what lies before the
// newest </body> (or, with none held, all but an end that begins one).
func (in *injector) take(data []byte) {
	// Only the new data, and the bytes before it that could begin a
	// </body> across the two reads, need searching.
	from := max(0, len(in.pending)-(len(bodyEnd)-1))
	in.pending = append(in.pending, data...)
	if i := lastIndexFold(in.pending[from:], bodyEnd); i >= 0 {
		in.ready = append(in.ready, in.pending[:from+i]...)
		in.pending = append([]byte(nil), in.pending[from+i:]...)
		in.holding = true
		return
	}
	if !in.holding {
		keep := partialBodyEnd(in.pending)
		in.ready = append(in.ready, in.pending[:len(in.pending)-keep]...)
		in.pending = append([]byte(nil), in.pending[len(in.pending)-keep:]...)
	}
}

// partialBodyEnd is the length of the longest end of s that begins a
// </body>, which the next read may complete.
func partialBodyEnd(s []byte) int {
	for k := min(len(s), len(bodyEnd)-1); k > 0; k-- {
		if bytes.Equal(asciiLower(s[len(s)-k:]), bodyEnd[:k]) {
			return k
		}
	}
	return 0
}

func (in *injector) Close() error { return in.src.Close() }

// lastIndexFold is bytes.LastIndex ignoring ASCII case: </BODY> is a
// </body> too.
func lastIndexFold(s, sep []byte) int {
	return bytes.LastIndex(asciiLower(s), sep)
}

// asciiLower is s with A-Z lowered and every other byte as it is, so that
// an index into it is an index into s. (bytes.ToLower is not: it reads s as
// UTF-8, and a page in another charset, a Latin-1 "é" say, comes out longer.)
func asciiLower(s []byte) []byte {
	lower := make([]byte, len(s))
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return lower
}
