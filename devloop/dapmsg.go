package main

import "encoding/json"

// message is a DAP message kept as JSON fields, so that whatever the editor
// and delve send passes through untouched but for the numbers.
type message map[string]json.RawMessage

func parse(raw []byte) (message, error) {
	var m message
	err := json.Unmarshal(raw, &m)
	return m, err
}

func (m message) str(key string) string {
	var s string
	if json.Unmarshal(m[key], &s) != nil {
		return ""
	}
	return s
}

func (m message) int(key string) int {
	var n int
	_ = json.Unmarshal(m[key], &n)
	return n
}

func (m message) set(key string, v any) {
	raw, _ := json.Marshal(v)
	m[key] = raw
}

func (m message) bytes() []byte {
	raw, _ := json.Marshal(m)
	return raw
}

// succeeded is a response's success field.
func (m message) succeeded() bool {
	var ok bool
	_ = json.Unmarshal(m["success"], &ok)
	return ok
}

// request is a request of the relay's own; args is left out when nil.
func request(command string, args any) message {
	m := message{}
	m.set("type", "request")
	m.set("command", command)
	switch a := args.(type) {
	case nil:
	case json.RawMessage:
		if a != nil {
			m["arguments"] = a
		}
	default:
		m.set("arguments", a)
	}
	return m
}

// response is the relay's own answer to request m.
func response(m message, success bool, errorMessage string, body any) message {
	r := message{"request_seq": m["seq"], "command": m["command"]}
	r.set("type", "response")
	r.set("success", success)
	if errorMessage != "" {
		r.set("message", errorMessage)
	}
	if body != nil {
		r.set("body", body)
	}
	return r
}

// event is an event of the relay's own.
func event(name string, body any) message {
	e := message{}
	e.set("type", "event")
	e.set("event", name)
	e.set("body", body)
	return e
}

// String is the message as JSON, for logs and test failures.
func (m message) String() string { return string(m.bytes()) }
