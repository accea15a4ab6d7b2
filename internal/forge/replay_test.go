package forge_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// exchange is one request to a forge's API and its answer, as a file under testdata/ holds it.
//
// These files are stand-ins for GitHub and GitLab, which cannot be reached from here: each exchange is written
// from the forge's REST API reference (the request go-github or client-go sends, the answer the reference
// documents), not recorded from the service. Gitea, which runs here, is tested for real in test/e2e.
type exchange struct {
	// Method and Path are the request's; Path carries the query, compared as a set of parameters. Path is compared
	// as sent, escaped: GitLab's project IDs are URL-encoded paths (acme%2Fmodels), a different path from acme/models.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Body, when set, is a JSON object whose every field the request's JSON body must have, with equal values.
	Body json.RawMessage `json:"body,omitempty"`
	// Status, Header and Response are the answer; "{{server}}" in them is the test server's URL.
	Status   int               `json:"status"`
	Header   map[string]string `json:"header,omitempty"`
	Response json.RawMessage   `json:"response,omitempty"`
}

// replay serves the exchanges of testdata/NAME.json in order to requests that auth accepts. A request that is not
// the next exchange, or that auth refuses, fails the test and is answered 501 (or 401); at cleanup every exchange
// must have been asked for.
func replay(t *testing.T, name string, auth func(http.Header) bool) *httptest.Server {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var exchanges []exchange
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&exchanges); err != nil {
		t.Fatalf("testdata/%s.json: %v", name, err)
	}
	var (
		mu   sync.Mutex
		next int
	)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !auth(r.Header) {
			t.Errorf("%s: %s %s without the token", name, r.Method, r.URL)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if next >= len(exchanges) {
			t.Errorf("%s: %s %s after the last exchange", name, r.Method, r.URL)
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		x := exchanges[next]
		if why := x.mismatch(r, body); why != "" {
			t.Errorf("%s: exchange %d (%s %s): %s", name, next, x.Method, x.Path, why)
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		next++
		fill := func(s string) string { return strings.ReplaceAll(s, "{{server}}", srv.URL) }
		for k, v := range x.Header {
			w.Header().Set(k, fill(v))
		}
		if len(x.Response) > 0 {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(x.Status)
		_, _ = io.WriteString(w, fill(string(x.Response)))
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		if next < len(exchanges) && !t.Failed() {
			t.Errorf("%s: exchange %d (%s %s) and %d more never asked for", name, next, exchanges[next].Method,
				exchanges[next].Path, len(exchanges)-next-1)
		}
	})
	return srv
}

// mismatch says how r, with body, is not the request x expects; "" when it is.
func (x exchange) mismatch(r *http.Request, body []byte) string {
	want, err := url.Parse(x.Path)
	if err != nil {
		return "bad path in the test data: " + err.Error()
	}
	if r.Method != x.Method || r.URL.EscapedPath() != want.EscapedPath() || !reflect.DeepEqual(r.URL.Query(), want.Query()) {
		return "got " + r.Method + " " + r.URL.String()
	}
	if len(x.Body) == 0 {
		return ""
	}
	var wantBody, got any
	if err := json.Unmarshal(x.Body, &wantBody); err != nil {
		return "bad body in the test data: " + err.Error()
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return "the request's body is not JSON: " + err.Error()
	}
	if !subset(wantBody, got) {
		return "got the body " + string(body)
	}
	return ""
}

// subset reports whether got has every field of want, recursively, with equal values (arrays compared whole).
func subset(want, got any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range w {
		if gv, ok := g[k]; !ok || !subset(v, gv) {
			return false
		}
	}
	return true
}
