// Package dataplane is skiff's gateway proxy: HTTP listeners that route
// requests by a routing table (hostnames, path, header, query and method
// matches, weighted backends, mirrors, header changes, rewrites,
// redirects, timeouts) to backend endpoints over HTTP/1.1 or h2c, and
// count what they do in Prometheus metrics. It knows nothing of
// Kubernetes: the translator in internal/gateway makes its Config from
// Gateway API objects, and it swaps one Config for the next without
// dropping a request.
package dataplane

import (
	"crypto/tls"
	"regexp"
	"time"
)

// Config is everything the gateway serves.
type Config struct {
	Listeners []Listener
}

// Listener is one bound address, with the routes attached to it.
type Listener struct {
	// Address is host:port.
	Address string
	// Certificates make it HTTPS (chosen by SNI); none is plain HTTP
	// (with h2c for gRPC).
	Certificates []tls.Certificate
	Routes       []Route
}

// Route is one HTTPRoute or GRPCRoute as one listener sees it.
type Route struct {
	// Name names it in metrics and logs: "httproute/ns/name".
	Name string
	// Hostnames it answers; empty is every host. "*.example.com" is a
	// wildcard of one or more labels.
	Hostnames []string
	Rules     []Rule
	// Order breaks ties between equally specific matches of different
	// routes: lower first (creation time, then name, as the spec says).
	Order int
}

// Rule is a set of matches and what to do with a request that matches.
type Rule struct {
	// Matches: any one of them. None matches every request.
	Matches  []Match
	Filters  Filters
	Backends []Backend
	// Timeout bounds the whole request, BackendTimeout each try; zero is
	// none.
	Timeout, BackendTimeout time.Duration
}

// PathType is how a path matches.
type PathType int

const (
	PathPrefix PathType = iota
	PathExact
	PathRegex
)

// Match is one request match: all its parts must hold.
type Match struct {
	PathType PathType
	Path     string // "/" with PathPrefix matches every path
	Headers  []ValueMatch
	Query    []ValueMatch
	Method   string
	pathRe   *regexp.Regexp
}

// ValueMatch matches a header or query parameter.
type ValueMatch struct {
	Name  string
	Value string
	Regex bool
	re    *regexp.Regexp
}

// Filters change a request on its way in or its response on the way out.
type Filters struct {
	RequestHeaders  *HeaderChanges
	ResponseHeaders *HeaderChanges
	Rewrite         *Rewrite
	Redirect        *Redirect
	Mirrors         []Mirror
}

// HeaderChanges set, add and remove headers.
type HeaderChanges struct {
	Set, Add []Header
	Remove   []string
}

// Header is one header name and value.
type Header struct{ Name, Value string }

// Rewrite changes the host and path a backend sees.
type Rewrite struct {
	Hostname string
	// FullPath replaces the path; PrefixPath replaces the matched prefix.
	FullPath, PrefixPath *string
}

// Redirect answers with a redirect instead of proxying.
type Redirect struct {
	Scheme, Hostname     string
	FullPath, PrefixPath *string
	Port                 int
	StatusCode           int // 302 when zero
}

// Mirror sends a copy of a share of requests to a backend whose answers
// are counted and dropped.
type Mirror struct {
	Backend Backend
	// Percent of requests mirrored, 0-100 (fractions allowed).
	Percent float64
}

// Backend is one weighted destination.
type Backend struct {
	// Name names it in metrics: "ns/service:port".
	Name   string
	Weight int32
	// Endpoints are the ready host:port addresses.
	Endpoints []string
	// H2C speaks HTTP/2 without TLS to the endpoints (gRPC).
	H2C bool
	// Status, if set, answers every request sent here with it (an invalid
	// reference is a 500, as the spec says).
	Status  int
	Filters Filters
	// ContainerConcurrency, above 0, is the most requests one endpoint
	// gets at once; more wait at the gateway for a free endpoint (within
	// Hold's bounds, or defaultHold's).
	ContainerConcurrency int
	// Hold, if set, holds requests while the backend has no ready
	// endpoint (a revision scaled to zero): the gateway tells its stats
	// watchers to wake the backend and sends each request on once an
	// endpoint is ready. Without it such a request is answered 503.
	Hold *Hold
}

// Hold bounds the requests held for a backend.
type Hold struct {
	// Timeout is how long one request waits for an endpoint.
	Timeout time.Duration
	// MaxHeld is the most requests waiting at once; more are answered
	// 503 with Retry-After.
	MaxHeld int
}
