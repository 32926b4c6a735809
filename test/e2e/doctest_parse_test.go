package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDoc(t *testing.T) {
	doc := strings.Join([]string{
		"# Title",
		"```console",
		"$ kubectl create deployment web --image=nginx \\",
		"    --replicas=3",
		"deployment.apps/web created",
		"$ cat > f.yaml <<EOF",
		"a: 1",
		"$ not a command",
		"EOF",
		"$ kubectl get pods",
		"NAME   READY",
		"",
		"web-7d4b9c8f6-x2k8q   1/1",
		"```",
		"```yaml",
		"$ not run",
		"```",
		"<!-- doc-test: skip (builds and runs skiff in the foreground) -->",
		"```sh",
		"make run",
		"```",
	}, "\n")
	got, err := parseDoc(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []docCommand{
		{Line: 3, Script: "kubectl create deployment web --image=nginx \\\n    --replicas=3", Want: []string{"deployment.apps/web created"}},
		{Line: 6, Script: "cat > f.yaml <<EOF\na: 1\n$ not a command\nEOF"},
		{Line: 10, Script: "kubectl get pods", Want: []string{"NAME   READY", "web-7d4b9c8f6-x2k8q   1/1"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"```sh\nmake run\n```\n", "<!-- doc-test: skip () -->\n```sh\nx\n```\n", "```console\noutput first\n```\n", "```console\n$ x\n"} {
		if _, err := parseDoc(bad); err == nil {
			t.Errorf("parseDoc(%q) = nil error", bad)
		}
	}
}

func TestMatchOutput(t *testing.T) {
	tests := []struct {
		name string
		want []string
		got  string
		ok   bool
	}{
		{"whitespace collapses", []string{"NAME   READY   STATUS"}, "NAME  READY     STATUS\n", true},
		{"generated names, ages and addresses", []string{"web-7d4b9c8f6-x2k8q   1/1   Running   0   3s   10.42.0.7"},
			"web-5f6c8b7d9-qwzt4   1/1   Running   0   12s   10.42.0.19\n", true},
		{"in order, other lines between", []string{"a", "c"}, "a\nb\nc\n", true},
		{"out of order", []string{"c", "a"}, "a\nb\nc\n", false},
		{"dots skip within a line", []string{`{"prediction":31.55...}`}, `{"prediction":31.551250697963535}` + "\n", true},
		{"a placeholder", []string{"url: http://<address>/serving/default/housing"}, "url: http://127.0.0.1:8080/serving/default/housing\n", true},
		{"a different number", []string{"limits: 256Mi"}, "limits: 128Mi\n", false},
		{"whole lines only", []string{"created"}, "deployment.apps/web created\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := matchOutput(tt.want, tt.got); ok != tt.ok {
				t.Errorf("matchOutput(%q, %q) = %v, want %v", tt.want, tt.got, ok, tt.ok)
			}
		})
	}
}

func TestStatusOK(t *testing.T) {
	tests := []struct {
		name string
		cmd  docCommand
		rc   int
		want bool
	}{
		{"success", docCommand{Script: "kubectl get pods"}, 0, true},
		{"an unexpected failure", docCommand{Script: "kubectl get pods"}, 1, false},
		{"an error shown", docCommand{Script: "kubectl create -f x.yaml", Want: []string{"Error from server (Forbidden): ..."}}, 1, true},
		{"an error shown, but it worked", docCommand{Script: "kubectl create -f x.yaml", Want: []string{"Error from server (Forbidden): ..."}}, 0, false},
		{"the status said", docCommand{Script: "kubectl auth can-i create jobs --as alice   # exit status 1", Want: []string{"no"}}, 1, true},
		{"another status than said", docCommand{Script: "kubectl auth can-i create jobs --as alice   # exit status 1", Want: []string{"no"}}, 0, false},
	}
	for _, tt := range tests {
		if got := statusOK(tt.cmd, tt.rc); got != tt.want {
			t.Errorf("%s: statusOK(rc %d) = %v", tt.name, tt.rc, got)
		}
	}
}
