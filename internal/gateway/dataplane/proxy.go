package dataplane

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// maxMirrorBody is the largest request body copied for a mirror; a
// bigger one goes to its backend unmirrored rather than buffered.
const maxMirrorBody = 8 << 20

// maxTries bounds the endpoints one request tries when a connection to
// one cannot be made (the request was never sent, so any method may).
const maxTries = 3

// routing is what the proxy decided for one request, carried in its
// context from ServeHTTP to the reverse proxy's hooks.
type routing struct {
	entry   *entry
	backend *backend
	ticket  *ticket
	status  int // the response code, for metrics
}

type routingKey struct{}

func routingOf(ctx context.Context) *routing { return ctx.Value(routingKey{}).(*routing) }

// handler serves one listener.
type handler struct {
	gw    *Gateway
	table func() *table
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.table().lookup(r)
	if e == nil {
		h.gw.metrics.unrouted.Inc()
		http.Error(w, "no route matches this request", http.StatusNotFound)
		return
	}
	rl := e.rule
	if rd := rl.Filters.Redirect; rd != nil {
		redirect(w, r, rd, &e.match)
		return
	}
	b := rl.pick()
	if b == nil {
		http.Error(w, "the route has no backend with a weight above 0", http.StatusInternalServerError)
		return
	}
	start := b.series.start()
	rw := &statusWriter{ResponseWriter: w}
	defer func() { b.series.done(start, rw.code()) }()
	if b.Status != 0 {
		http.Error(rw, "the backend reference is invalid", b.Status)
		return
	}
	if timeout := minPositive(rl.Timeout, rl.BackendTimeout); timeout > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		r = r.WithContext(ctx)
	}
	t, err := b.pool.acquire(r.Context())
	if err != nil {
		noEndpoint(rw, r, b, err)
		return
	}
	defer b.pool.release(t)
	for _, m := range rl.mirrors {
		if m.mirrored() {
			h.gw.mirror(r, e, m.backend)
		}
	}
	rt := &routing{entry: e, backend: b, ticket: t}
	r = r.WithContext(context.WithValue(r.Context(), routingKey{}, rt))
	h.gw.proxy.ServeHTTP(rw, r)
}

// noEndpoint answers a request that got no endpoint: 503, with
// Retry-After when it was held (or refused a place among the held) and
// the backend may well have one soon.
func noEndpoint(w http.ResponseWriter, r *http.Request, b *backend, err error) {
	switch {
	case errors.Is(err, errNoEndpoints):
		http.Error(w, "no ready endpoints for "+b.Name, http.StatusServiceUnavailable)
	case errors.Is(err, errTooManyHeld):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests are waiting for "+b.Name+" to start: retry", http.StatusServiceUnavailable)
	case errors.Is(err, errHoldTimeout):
		w.Header().Set("Retry-After", "5")
		http.Error(w, b.Name+" did not get a ready endpoint in time: retry", http.StatusServiceUnavailable)
	case errors.Is(err, context.DeadlineExceeded):
		http.Error(w, "the route's timeout passed while "+b.Name+" had no ready endpoint", http.StatusGatewayTimeout)
	default:
		if r.Context().Err() != nil {
			w.WriteHeader(499) // the caller went away
			return
		}
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	}
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// rewrite makes the outgoing request: the endpoint, the filters of the
// rule and then of the backend.
func rewrite(pr *httputil.ProxyRequest) {
	rt := routingOf(pr.In.Context())
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = rt.ticket.endpoint(0)
	pr.SetXForwarded()
	out.Host = pr.In.Host
	applyRequestFilters(out, rt.entry, rt.backend)
	if out.Body != nil && out.Body != http.NoBody {
		out.Body = &onceBody{ReadCloser: out.Body}
	}
}

// applyRequestFilters applies the header changes and rewrites of the
// rule and then of the backend to an outgoing request.
func applyRequestFilters(out *http.Request, e *entry, b *backend) {
	for _, f := range []*Filters{&e.rule.Filters, &b.Filters} {
		f.RequestHeaders.apply(out.Header)
		if rw := f.Rewrite; rw != nil {
			if rw.Hostname != "" {
				out.Host = rw.Hostname
			}
			if p := replacedPath(out.URL.Path, rw.FullPath, rw.PrefixPath, &e.match); p != "" {
				out.URL.Path, out.URL.RawPath = p, ""
			}
		}
	}
}

// modifyResponse applies the response header filters.
func modifyResponse(res *http.Response) error {
	rt := routingOf(res.Request.Context())
	rt.entry.rule.Filters.ResponseHeaders.apply(res.Header)
	rt.backend.Filters.ResponseHeaders.apply(res.Header)
	return nil
}

// proxyError answers a request the backend did not: 504 past its
// timeout, 502 otherwise.
func proxyError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		code = 499 // the caller went away
	}
	w.WriteHeader(code)
}

func (c *HeaderChanges) apply(h http.Header) {
	if c == nil {
		return
	}
	for _, s := range c.Set {
		h.Set(s.Name, s.Value)
	}
	for _, a := range c.Add {
		h.Add(a.Name, a.Value)
	}
	for _, name := range c.Remove {
		h.Del(name)
	}
}

// replacedPath is the path after a full or prefix replacement, or "".
func replacedPath(path string, full, prefix *string, m *Match) string {
	switch {
	case full != nil:
		return *full
	case prefix != nil && m.PathType == PathPrefix:
		rest := strings.TrimPrefix(path, m.Path)
		if p := strings.TrimSuffix(*prefix, "/") + rest; p != "" {
			return p
		}
		return "/"
	}
	return ""
}

func redirect(w http.ResponseWriter, r *http.Request, rd *Redirect, m *Match) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, ""
	}
	if rd.Scheme != "" && rd.Scheme != scheme {
		scheme, port = rd.Scheme, ""
	}
	if rd.Hostname != "" {
		host = rd.Hostname
	}
	if rd.Port != 0 {
		port = strconv.Itoa(rd.Port)
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	path := r.URL.Path
	if p := replacedPath(path, rd.FullPath, rd.PrefixPath, m); p != "" {
		path = p
	}
	loc := scheme + "://" + host
	if port != "" {
		loc = scheme + "://" + net.JoinHostPort(host, port)
	}
	loc += path
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	code := rd.StatusCode
	if code == 0 {
		code = http.StatusFound
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(code)
}

// mirror sends a copy of r to b in the background; the caller never waits
// for it or sees its answer. A body too big to copy is not mirrored.
func (g *Gateway) mirror(r *http.Request, e *entry, b *backend) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		data, err := io.ReadAll(io.LimitReader(r.Body, maxMirrorBody+1))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(data), r.Body), r.Body}
		if err != nil || len(data) > maxMirrorBody {
			return
		}
		body = data
	}
	select {
	case g.mirrors <- struct{}{}:
	default:
		g.metrics.mirrorsDropped.Inc()
		return
	}
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	go func() {
		defer func() { <-g.mirrors }()
		start := b.series.start()
		b.series.done(start, g.sendMirror(out, e, b))
	}()
}

func (g *Gateway) sendMirror(out *http.Request, e *entry, b *backend) int {
	if b.Status != 0 {
		return b.Status
	}
	addr := b.pool.peek()
	if addr == "" {
		return http.StatusServiceUnavailable
	}
	ctx, cancel := context.WithTimeout(out.Context(), 30*time.Second)
	defer cancel()
	out = out.WithContext(ctx)
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = "http", addr
	applyRequestFilters(out, e, b)
	res, err := g.transport(b).RoundTrip(out)
	if err != nil {
		return http.StatusBadGateway
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// statusWriter remembers the response code for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// onceBody is a request body that a failed connection attempt may
// "close" without ending it, so the next endpoint can still read it,
// provided nothing was read yet.
type onceBody struct {
	io.ReadCloser
	read bool
}

func (b *onceBody) Read(p []byte) (int, error) {
	b.read = true
	return b.ReadCloser.Read(p)
}

// Close is left to the server, which closes a request's body when its
// handler returns.
func (b *onceBody) Close() error { return nil }
