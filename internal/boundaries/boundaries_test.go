package boundaries

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSkiffKeepsItsBoundaries checks the import graph of every package in
// the module (tests included), as `go list` sees it.
func TestSkiffKeepsItsBoundaries(t *testing.T) {
	g := moduleGraph(t)
	if len(g) < 20 {
		t.Fatalf("go list found only %d packages: the graph is not skiff's", len(g))
	}
	for _, v := range Check(g, Rules) {
		t.Error(v)
	}
}

// moduleGraph lists the module's packages and everything they import.
func moduleGraph(t *testing.T) Graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-test", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, Module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := Graph{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// A test variant is named "pkg [pkg.test]"; its imports are the
		// package's with the test files'.
		pkg := fields[0]
		var imports []string
		for _, f := range fields[1:] {
			if strings.HasPrefix(f, "[") {
				continue
			}
			imports = append(imports, f)
		}
		g[pkg] = append(g[pkg], imports...)
	}
	return g
}

func TestCheckFindsDeliberateViolations(t *testing.T) {
	t.Parallel()
	m := Module + "/internal/"
	g := Graph{
		m + "controlplane":          {"k8s.io/kubernetes/cmd/kube-apiserver/app"},
		m + "netplane/serviceproxy": {"k8s.io/kubernetes/pkg/proxy"},
		m + "node":                  {"k8s.io/kubernetes/pkg/kubelet", m + "node/sandbox"},
		m + "modelserver":           {m + "modelrepo", "google.golang.org/grpc"},
		m + "modelrepo":             {m + "util"},
		m + "util":                  {"k8s.io/apimachinery/pkg/util/sets"},
		m + "controllers/serving":   {m + "progress", m + "server"},
		m + "server":                {m + "node"},
		m + "node/sandbox":          {"golang.org/x/sys/unix"},
	}
	got := Check(g, Rules)
	want := []Violation{
		{Rule: Rules[2].Name, Chain: []string{m + "controllers/serving", m + "server", m + "node"}},
		{Rule: Rules[1].Name, Chain: []string{m + "modelrepo", m + "util", "k8s.io/apimachinery/pkg/util/sets"}},
		{Rule: Rules[1].Name, Chain: []string{m + "modelserver", m + "modelrepo", m + "util", "k8s.io/apimachinery/pkg/util/sets"}},
		{Rule: Rules[0].Name, Chain: []string{m + "node", "k8s.io/kubernetes/pkg/kubelet"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, pkg string
		want         bool
	}{
		{pattern: "k8s.io/...", pkg: "k8s.io/api/core/v1", want: true},
		{pattern: "k8s.io/...", pkg: "k8s.io", want: true},
		{pattern: "k8s.io/...", pkg: "k8s.iox/a", want: false},
		{pattern: "k8s.io/...", pkg: "sigs.k8s.io/yaml", want: false},
		{pattern: Module + "/internal/model/...", pkg: Module + "/internal/modelrepo", want: false},
		{pattern: Module + "/internal/model", pkg: Module + "/internal/model", want: true},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.pkg); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.pkg, got, tt.want)
		}
	}
}
