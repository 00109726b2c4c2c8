// Command bare is the baseline for `make bench`'s throughput row: net/http's
// hello world with no framework, no middleware and no logging. It answers
// GET / with $BODY, so that it serves exactly what the app under test does.
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	body := []byte(os.Getenv("BODY"))
	http.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = w.Write(body)
	})
	log.Fatal(http.ListenAndServe(":1323", nil))
}
