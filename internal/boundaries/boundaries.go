// Package boundaries states which of skiff's packages may import which,
// and checks an import graph against it (the test of this package checks
// skiff's own, from `go list`). It is Kubernetes' import-boss idea in a
// few rules: the upstream code stays in two packages, the model data plane
// stays free of Kubernetes, and the ML API and controllers never reach
// into the node or the control plane, so they run unchanged against any
// cluster.
package boundaries

import (
	"fmt"
	"slices"
	"strings"
)

// Module is skiff's module path.
const Module = "github.com/skiff-dev/skiff"

// Rule forbids packages matching From (less Except) to import packages
// matching Forbid: directly, or with Transitive through any chain of
// imports. Patterns are import paths, or a path ending in "/..." for it
// and everything below it.
type Rule struct {
	Name       string
	From       []string
	Except     []string
	Forbid     []string
	Transitive bool
}

// Rules are skiff's boundaries.
var Rules = []Rule{
	{
		Name:   "only the control plane and the service proxy import k8s.io/kubernetes (it is huge and needs a replace block)",
		From:   []string{Module + "/..."},
		Except: []string{Module + "/internal/controlplane", Module + "/internal/netplane/serviceproxy"},
		Forbid: []string{"k8s.io/kubernetes/..."},
	},
	{
		Name: "the model data plane, the search algorithms and the autoscaling algorithm import nothing of Kubernetes, so they stay fast and run alone",
		From: []string{
			Module + "/internal/model/...", Module + "/internal/modelrepo/...", Module + "/internal/modelserver/...",
			Module + "/internal/gateway/dataplane/...", Module + "/internal/batch/...",
			Module + "/internal/tune/suggest/...", Module + "/internal/tune/metrics/...", Module + "/internal/kpa/...",
			Module + "/internal/artifact/...",
		},
		Forbid:     []string{"k8s.io/...", "sigs.k8s.io/..."},
		Transitive: true,
	},
	{
		Name:       "the ML API and its controllers talk only to the Kubernetes API, so they run on any cluster",
		From:       []string{Module + "/apis/...", Module + "/internal/controllers/..."},
		Forbid:     []string{Module + "/internal/node/...", Module + "/internal/controlplane/...", "k8s.io/kubernetes/..."},
		Transitive: true,
	},
}

// Graph maps each package to the packages it imports directly.
type Graph map[string][]string

// Violation is one forbidden import, with the chain that leads to it.
type Violation struct {
	Rule  string
	Chain []string // from the package the rule covers to the forbidden one
}

func (v Violation) String() string {
	return fmt.Sprintf("%s imports %s (%s); rule: %s", v.Chain[0], v.Chain[len(v.Chain)-1], strings.Join(v.Chain, " -> "), v.Rule)
}

// Check returns every violation of rules in g, one per package and rule
// (the shortest chain), sorted.
func Check(g Graph, rules []Rule) []Violation {
	var out []Violation
	for _, pkg := range slices.Sorted(keys(g)) {
		for _, r := range rules {
			if !matchAny(r.From, pkg) || matchAny(r.Except, pkg) {
				continue
			}
			if chain := r.find(g, pkg); chain != nil {
				out = append(out, Violation{Rule: r.Name, Chain: chain})
			}
		}
	}
	return out
}

// find is the shortest chain from pkg to a forbidden import, or nil.
func (r Rule) find(g Graph, pkg string) []string {
	parent := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, imp := range g[cur] {
			if _, seen := parent[imp]; seen {
				continue
			}
			parent[imp] = cur
			if matchAny(r.Forbid, imp) {
				return chainTo(parent, imp)
			}
			if r.Transitive {
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

func chainTo(parent map[string]string, last string) []string {
	var chain []string
	for p := last; p != ""; p = parent[p] {
		chain = append(chain, p)
	}
	slices.Reverse(chain)
	return chain
}

func matchAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return match(p, pkg) })
}

func match(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func keys(g Graph) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range g {
			if !yield(k) {
				return
			}
		}
	}
}
