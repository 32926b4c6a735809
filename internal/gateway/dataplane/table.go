package dataplane

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// table is a listener's routes, compiled for lookup: entries by hostname,
// each list in the Gateway API's order of precedence.
type table struct {
	exact     map[string][]*entry
	wildcards []hostGroup // longest suffix first
	any       []*entry
	// backends are every backend and mirror of its rules.
	backends []*backend
}

type hostGroup struct {
	suffix  string // ".example.com" for "*.example.com"
	entries []*entry
}

// entry is one match of one rule.
type entry struct {
	match Match
	rule  *rule
	route *Route
	index int // rule and match position in the route, for ties
}

// compile builds a listener's table, with its metrics series; an invalid
// regular expression is an error that names the route.
func compile(routes []Route, m *metrics, hub *statsHub) (*table, error) {
	t := &table{exact: map[string][]*entry{}}
	wild := map[string][]*entry{}
	for ri := range routes {
		route := &routes[ri]
		var entries []*entry
		for i := range route.Rules {
			r := compileRule(route.Name, &route.Rules[i], m, hub)
			t.backends = append(t.backends, r.backends...)
			for _, mr := range r.mirrors {
				t.backends = append(t.backends, mr.backend)
			}
			matches := route.Rules[i].Matches
			if len(matches) == 0 {
				matches = []Match{{PathType: PathPrefix, Path: "/"}}
			}
			for j, m := range matches {
				if err := compileMatch(&m); err != nil {
					return nil, fmt.Errorf("%s rule %d match %d: %w", route.Name, i, j, err)
				}
				entries = append(entries, &entry{match: m, rule: r, route: route, index: i<<16 | j})
			}
		}
		if len(route.Hostnames) == 0 {
			t.any = append(t.any, entries...)
		}
		for _, h := range route.Hostnames {
			h = strings.ToLower(h)
			if suffix, ok := strings.CutPrefix(h, "*"); ok {
				wild[suffix] = append(wild[suffix], entries...)
			} else {
				t.exact[h] = append(t.exact[h], entries...)
			}
		}
	}
	for h := range t.exact {
		sortEntries(t.exact[h])
	}
	for suffix, entries := range wild {
		sortEntries(entries)
		t.wildcards = append(t.wildcards, hostGroup{suffix: suffix, entries: entries})
	}
	slices.SortFunc(t.wildcards, func(a, b hostGroup) int { return cmp.Compare(len(b.suffix), len(a.suffix)) })
	sortEntries(t.any)
	return t, nil
}

func compileMatch(m *Match) error {
	if m.PathType == PathPrefix && len(m.Path) > 1 {
		m.Path = strings.TrimSuffix(m.Path, "/")
	}
	if m.PathType == PathRegex {
		re, err := regexp.Compile(m.Path)
		if err != nil {
			return fmt.Errorf("path regex: %w", err)
		}
		m.pathRe = re
	}
	for _, vs := range [][]ValueMatch{m.Headers, m.Query} {
		for i := range vs {
			if !vs[i].Regex {
				continue
			}
			re, err := regexp.Compile(vs[i].Value)
			if err != nil {
				return fmt.Errorf("%s regex: %w", vs[i].Name, err)
			}
			vs[i].re = re
		}
	}
	return nil
}

// sortEntries orders by the spec's precedence: an exact path, then the
// longest prefix, then regular expressions; a method; more header
// matches; more query matches; then the older route and the earlier rule.
func sortEntries(es []*entry) {
	slices.SortStableFunc(es, func(a, b *entry) int {
		return cmp.Or(
			cmp.Compare(a.match.PathType.rank(), b.match.PathType.rank()),
			cmp.Compare(len(b.match.Path), len(a.match.Path)),
			cmp.Compare(boolRank(a.match.Method != ""), boolRank(b.match.Method != "")),
			cmp.Compare(len(b.match.Headers), len(a.match.Headers)),
			cmp.Compare(len(b.match.Query), len(a.match.Query)),
			cmp.Compare(a.route.Order, b.route.Order),
			cmp.Compare(a.index, b.index),
		)
	})
}

func (p PathType) rank() int {
	switch p {
	case PathExact:
		return 0
	case PathPrefix:
		return 1
	}
	return 2
}

func boolRank(b bool) int {
	if b {
		return 0
	}
	return 1
}

// lookup finds the entry for a request: the most specific hostname whose
// routes match it, then the routes for every host.
func (t *table) lookup(r *http.Request) *entry {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if e := first(t.exact[host], r); e != nil {
		return e
	}
	for _, g := range t.wildcards {
		if strings.HasSuffix(host, g.suffix) && len(host) > len(g.suffix) {
			if e := first(g.entries, r); e != nil {
				return e
			}
		}
	}
	return first(t.any, r)
}

func first(es []*entry, r *http.Request) *entry {
	for _, e := range es {
		if e.match.matches(r) {
			return e
		}
	}
	return nil
}

func (m *Match) matches(r *http.Request) bool {
	path := r.URL.Path
	switch m.PathType {
	case PathExact:
		if path != m.Path {
			return false
		}
	case PathPrefix:
		if m.Path != "/" && path != m.Path && !strings.HasPrefix(path, m.Path+"/") {
			return false
		}
	case PathRegex:
		if !m.pathRe.MatchString(path) {
			return false
		}
	}
	if m.Method != "" && r.Method != m.Method {
		return false
	}
	for _, h := range m.Headers {
		vals, ok := r.Header[http.CanonicalHeaderKey(h.Name)]
		if !ok || !h.matches(strings.Join(vals, ",")) {
			return false
		}
	}
	if len(m.Query) > 0 {
		q := r.URL.Query()
		for _, v := range m.Query {
			if !q.Has(v.Name) || !v.matches(q.Get(v.Name)) {
				return false
			}
		}
	}
	return true
}

func (v *ValueMatch) matches(s string) bool {
	if v.re != nil {
		return v.re.MatchString(s)
	}
	return s == v.Value
}
