package dataplane

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// echo is what a test backend answers: who it is and what it got.
type echo struct {
	Backend string            `json:"backend"`
	Path    string            `json:"path"`
	Host    string            `json:"host"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Proto   string            `json:"proto"`
}

// backendServer starts a backend that answers with an echo; h2c makes it
// speak HTTP/2 without TLS too.
func backendServer(t *testing.T, name string, h2c bool) (addr string, hits func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		hs := map[string]string{}
		for k := range r.Header {
			hs[k] = r.Header.Get(k)
		}
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Remove-Me", "1")
		_ = json.NewEncoder(w).Encode(echo{Backend: name, Path: r.URL.Path, Host: r.Host, Method: r.Method, Headers: hs, Body: string(body), Proto: r.Proto})
	}))
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// serve starts the gateway's handler for routes on a test server.
func serve(t *testing.T, routes ...Route) (*Gateway, string) {
	t.Helper()
	g := New(logr.Discard())
	tbl, err := compile(routes, g.metrics, g.hub)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range tbl.backends {
		b.pool.set(b.Backend)
	}
	srv := httptest.NewServer(&handler{gw: g, table: func() *table { return tbl }})
	t.Cleanup(srv.Close)
	return g, srv.URL
}

func get(t *testing.T, req *http.Request) (*http.Response, echo) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e echo
	data, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(data, &e)
	return res, e
}

func newRequest(t *testing.T, method, url string, headers ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

func to(name, addr string) []Backend {
	return []Backend{{Name: name, Weight: 1, Endpoints: []string{addr}}}
}

func TestRoutingPrecedence(t *testing.T) {
	t.Parallel()
	names := []string{"exact", "long-prefix", "prefix", "method", "headers", "query", "host", "wildcard", "regex"}
	addrs := map[string]string{}
	for _, n := range names {
		addrs[n], _ = backendServer(t, n, false)
	}
	rule := func(name string, m ...Match) Rule { return Rule{Matches: m, Backends: to(name, addrs[name])} }
	_, url := serve(t,
		Route{Name: "a", Order: 1, Rules: []Rule{
			rule("prefix", Match{Path: "/v2"}),
			rule("long-prefix", Match{Path: "/v2/models/"}),
			rule("exact", Match{PathType: PathExact, Path: "/v2/models/m/infer"}),
			rule("method", Match{Path: "/v2", Method: "POST"}),
			rule("headers", Match{Path: "/v2", Headers: []ValueMatch{{Name: "x-variant", Value: "b"}}}),
			rule("query", Match{Path: "/v2", Query: []ValueMatch{{Name: "v", Value: "1"}}}),
			rule("regex", Match{PathType: PathRegex, Path: "^/r[0-9]+$"}),
		}},
		Route{Name: "b", Order: 2, Hostnames: []string{"model.example.com"}, Rules: []Rule{rule("host", Match{Path: "/v2"})}},
		Route{Name: "c", Order: 3, Hostnames: []string{"*.example.com"}, Rules: []Rule{rule("wildcard")}},
	)
	tests := []struct {
		name    string
		req     *http.Request
		want    string
		wantErr int
	}{
		{name: "exact path beats prefixes", req: newRequest(t, "GET", url+"/v2/models/m/infer"), want: "exact"},
		{name: "longest prefix", req: newRequest(t, "GET", url+"/v2/models/x"), want: "long-prefix"},
		{name: "prefix is by path segment", req: newRequest(t, "GET", url+"/v2x"), wantErr: 404},
		{name: "prefix itself", req: newRequest(t, "GET", url+"/v2"), want: "prefix"},
		{name: "method", req: newRequest(t, "POST", url+"/v2/health"), want: "method"},
		{name: "header", req: newRequest(t, "GET", url+"/v2/x", "X-Variant", "b"), want: "headers"},
		{name: "header value must equal", req: newRequest(t, "GET", url+"/v2/x", "X-Variant", "c"), want: "prefix"},
		{name: "query", req: newRequest(t, "GET", url+"/v2/x?v=1"), want: "query"},
		{name: "regex", req: newRequest(t, "GET", url+"/r42"), want: "regex"},
		{name: "exact host first", req: newRequest(t, "GET", url+"/v2/models/m/infer", "Host", "model.example.com"), want: "host"},
		{name: "wildcard host", req: newRequest(t, "GET", url+"/anything", "Host", "a.b.example.com:8080"), want: "wildcard"},
		{name: "exact host falls back to wildcard", req: newRequest(t, "GET", url+"/other", "Host", "model.example.com"), want: "wildcard"},
		{name: "wildcard needs a label", req: newRequest(t, "GET", url+"/r1", "Host", "example.com"), want: "regex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, e := get(t, tt.req)
			if tt.wantErr != 0 {
				if res.StatusCode != tt.wantErr {
					t.Fatalf("status %d, want %d", res.StatusCode, tt.wantErr)
				}
				return
			}
			if e.Backend != tt.want {
				t.Errorf("routed to %q (status %d), want %q", e.Backend, res.StatusCode, tt.want)
			}
		})
	}
}

func TestWeightsSplitRequests(t *testing.T) {
	t.Parallel()
	a, hitsA := backendServer(t, "a", false)
	b, hitsB := backendServer(t, "b", false)
	zero, hitsZero := backendServer(t, "zero", false)
	_, url := serve(t, Route{Name: "r", Rules: []Rule{{Backends: []Backend{
		{Name: "a", Weight: 80, Endpoints: []string{a}},
		{Name: "b", Weight: 20, Endpoints: []string{b}},
		{Name: "zero", Weight: 0, Endpoints: []string{zero}},
	}}}})
	const n = 1000
	for range n {
		res, _ := get(t, newRequest(t, "GET", url+"/"))
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if got := hitsB(); got < n*14/100 || got > n*26/100 {
		t.Errorf("b got %d of %d requests, want 20%% ± 6", got, n)
	}
	if hitsA()+hitsB() != n || hitsZero() != 0 {
		t.Errorf("a %d + b %d != %d, or zero-weight got %d", hitsA(), hitsB(), n, hitsZero())
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	addr, _ := backendServer(t, "be", false)
	full, prefix := "/replaced", "/new"
	_, url := serve(t, Route{Name: "r", Rules: []Rule{
		{
			Matches: []Match{{Path: "/headers"}},
			Filters: Filters{
				RequestHeaders:  &HeaderChanges{Set: []Header{{"X-Set", "set"}}, Add: []Header{{"X-Add", "added"}}, Remove: []string{"X-Drop"}},
				ResponseHeaders: &HeaderChanges{Set: []Header{{"X-Resp", "yes"}}, Remove: []string{"X-Remove-Me"}},
			},
			Backends: to("be", addr),
		},
		{Matches: []Match{{Path: "/full"}}, Filters: Filters{Rewrite: &Rewrite{Hostname: "rewritten.example", FullPath: &full}}, Backends: to("be", addr)},
		{Matches: []Match{{Path: "/old/"}}, Filters: Filters{Rewrite: &Rewrite{PrefixPath: &prefix}}, Backends: to("be", addr)},
		{Matches: []Match{{Path: "/strip"}}, Filters: Filters{Rewrite: &Rewrite{PrefixPath: new(string)}}, Backends: to("be", addr)},
	}})
	res, e := get(t, newRequest(t, "GET", url+"/headers", "X-Drop", "1", "X-Add", "mine"))
	if diff := cmp.Diff(map[string]string{"X-Set": "set", "X-Add": "mine"}, map[string]string{"X-Set": e.Headers["X-Set"], "X-Add": e.Headers["X-Add"]}); diff != "" || e.Headers["X-Drop"] != "" {
		t.Errorf("request headers (-want +got):\n%s drop=%q", diff, e.Headers["X-Drop"])
	}
	if res.Header.Get("X-Resp") != "yes" || res.Header.Get("X-Remove-Me") != "" || len(res.Header.Values("X-Backend")) != 1 {
		t.Errorf("response headers: %v", res.Header)
	}
	if _, e := get(t, newRequest(t, "GET", url+"/full/x")); e.Path != "/replaced" || e.Host != "rewritten.example" {
		t.Errorf("full rewrite: path %q host %q", e.Path, e.Host)
	}
	for in, want := range map[string]string{"/old/a/b": "/new/a/b", "/old": "/new", "/strip/x": "/x", "/strip": "/"} {
		if _, e := get(t, newRequest(t, "GET", url+in)); e.Path != want {
			t.Errorf("prefix rewrite of %s: %q, want %q", in, e.Path, want)
		}
	}
}

func TestRedirect(t *testing.T) {
	t.Parallel()
	prefix := "/v2"
	_, url := serve(t, Route{Name: "r", Rules: []Rule{
		{Matches: []Match{{Path: "/https"}}, Filters: Filters{Redirect: &Redirect{Scheme: "https", StatusCode: 301}}},
		{Matches: []Match{{Path: "/v1"}}, Filters: Filters{Redirect: &Redirect{Hostname: "models.example", Port: 8080, PrefixPath: &prefix}}},
	}})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path, wantLoc string
		wantCode      int
	}{
		{path: "/https/x?q=1", wantLoc: "https://example.test/https/x?q=1", wantCode: 301},
		{path: "/v1/models", wantLoc: "http://models.example:8080/v2/models", wantCode: 302},
	}
	for _, tt := range tests {
		req := newRequest(t, "GET", url+tt.path, "Host", "example.test:80")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.wantCode || res.Header.Get("Location") != tt.wantLoc {
			t.Errorf("%s: %d %q, want %d %q", tt.path, res.StatusCode, res.Header.Get("Location"), tt.wantCode, tt.wantLoc)
		}
	}
}

func TestMirrorNeverReachesTheCaller(t *testing.T) {
	t.Parallel()
	live, _ := backendServer(t, "live", false)
	shadowHits := make(chan echo, 100)
	shadow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		shadowHits <- echo{Path: r.URL.Path, Body: string(body), Headers: map[string]string{"X-Set": r.Header.Get("X-Set")}}
		w.WriteHeader(http.StatusInternalServerError) // a broken shadow
	}))
	defer shadow.Close()
	g, url := serve(t, Route{Name: "r", Rules: []Rule{{
		Matches: []Match{{Path: "/serving/m"}},
		Filters: Filters{
			Mirrors:        []Mirror{{Backend: Backend{Name: "shadow", Endpoints: []string{shadow.Listener.Addr().String()}}, Percent: 100}},
			Rewrite:        &Rewrite{PrefixPath: new(string)},
			RequestHeaders: &HeaderChanges{Set: []Header{{"X-Set", "yes"}}},
		},
		Backends: to("live", live),
	}}})
	for i := range 20 {
		req, _ := http.NewRequest("POST", url+"/serving/m/infer", strings.NewReader(fmt.Sprintf("body-%d", i)))
		res, e := get(t, req)
		if res.StatusCode != 200 || e.Backend != "live" || e.Body != fmt.Sprintf("body-%d", i) {
			t.Fatalf("caller got %d from %q with body %q", res.StatusCode, e.Backend, e.Body)
		}
	}
	for range 20 {
		select {
		case e := <-shadowHits:
			if e.Path != "/infer" || !strings.HasPrefix(e.Body, "body-") || e.Headers["X-Set"] != "yes" {
				t.Errorf("shadow got %+v", e)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the shadow did not get every copy")
		}
	}
	waitFor(t, func() bool {
		return testutil.ToFloat64(g.metrics.requests.WithLabelValues("r", "shadow", roleMirror, "500")) == 20
	})
}

func TestConnectionRefusedMovesToTheNextEndpoint(t *testing.T) {
	t.Parallel()
	up, hits := backendServer(t, "up", false)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().String()
	ln.Close() // nothing listens here now: a pod just gone
	g, url := serve(t, Route{Name: "r", Rules: []Rule{{Backends: []Backend{{Name: "be", Weight: 1, Endpoints: []string{down, up}}}}}})
	for i := range 10 {
		req, _ := http.NewRequest("POST", url+"/", strings.NewReader("payload"))
		res, e := get(t, req)
		if res.StatusCode != 200 || e.Body != "payload" {
			t.Fatalf("request %d: status %d body %q", i, res.StatusCode, e.Body)
		}
	}
	if hits() != 10 || testutil.ToFloat64(g.metrics.retries) != 5 {
		t.Errorf("hits %d, retries %v; want 10 and 5", hits(), testutil.ToFloat64(g.metrics.retries))
	}
}

func TestH2CBackendAndTimeouts(t *testing.T) {
	t.Parallel()
	h2, _ := backendServer(t, "h2", true)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	_, url := serve(t, Route{Name: "r", Rules: []Rule{
		{Matches: []Match{{Path: "/h2"}}, Backends: []Backend{{Name: "h2", Weight: 1, Endpoints: []string{h2}, H2C: true}}},
		{Matches: []Match{{Path: "/slow"}}, Timeout: 100 * time.Millisecond, Backends: to("slow", slow.Listener.Addr().String())},
		{Matches: []Match{{Path: "/none"}}, Backends: []Backend{{Name: "empty", Weight: 1}}},
		{Matches: []Match{{Path: "/invalid"}}, Backends: []Backend{{Name: "bad", Weight: 1, Status: 500}}},
		{Matches: []Match{{Path: "/zero"}}, Backends: []Backend{{Name: "z", Weight: 0, Endpoints: []string{h2}}}},
	}})
	if _, e := get(t, newRequest(t, "GET", url+"/h2")); e.Proto != "HTTP/2.0" {
		t.Errorf("h2c backend saw %q", e.Proto)
	}
	for path, want := range map[string]int{"/slow": 504, "/none": 503, "/invalid": 500, "/zero": 500} {
		if res, _ := get(t, newRequest(t, "GET", url+path)); res.StatusCode != want {
			t.Errorf("%s: status %d, want %d", path, res.StatusCode, want)
		}
	}
}

func TestApplyBindsSwapsAndCloses(t *testing.T) {
	t.Parallel()
	a, _ := backendServer(t, "a", false)
	b, _ := backendServer(t, "b", false)
	addr := freeAddress(t)
	g := New(logr.Discard())
	defer g.Close(t.Context())
	if errs := g.Apply(Config{Listeners: []Listener{{Address: addr, Routes: []Route{{Name: "r", Rules: []Rule{{Backends: to("a", a)}}}}}}}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, e := get(t, newRequest(t, "GET", "http://"+addr+"/")); e.Backend != "a" {
		t.Fatalf("got %q, want a", e.Backend)
	}
	errs := g.Apply(Config{Listeners: []Listener{
		{Address: addr, Routes: []Route{{Name: "r", Rules: []Rule{{Backends: to("b", b)}}}}},
		{Address: addr + "0:bad", Routes: nil},
	}})
	if len(errs) != 1 || errs[addr+"0:bad"] == nil {
		t.Errorf("errors %v, want one for the bad address", errs)
	}
	if _, e := get(t, newRequest(t, "GET", "http://"+addr+"/")); e.Backend != "b" {
		t.Fatalf("after the swap got %q, want b", e.Backend)
	}
	if errs := g.Apply(Config{Listeners: []Listener{{Address: addr, Routes: []Route{{Name: "r", Rules: []Rule{{Matches: []Match{{PathType: PathRegex, Path: "("}}}}}}}}}); errs[addr] == nil {
		t.Error("a bad regular expression was accepted")
	}
	g.Apply(Config{})
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Error("the listener still answers after it was removed")
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
