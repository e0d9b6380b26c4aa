// {{name}}: a Kube-Serverless function.
//
// The platform calls Handle for every request to /function/{{name}}[/path], with the
// request's method, path, query, headers and body. Write the reply to w: status with
// w.WriteHeader, headers with w.Header().Set, the body with w.Write. A panic becomes
// a 500 (logged, never sent to the caller); what you print goes to the gateway's log.
//
// Only the standard library is available (Go 1.19); vendored modules (vendor/) work too.
package main

import (
	"io"
	"net/http"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	name := string(body)
	if name == "" {
		name = "world"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello, "+name+"!\n")
}
