package sandbox

import (
	"slices"
	"testing"
)

func TestVisible(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/usr/bin/python3", true},
		{"/opt/tools", true},
		{"/etc/passwd", true},
		{"/etc/shadow", false},
		{"/etc/ssh/ssh_host_ed25519_key", false},
		{"/etc/ssh/ssh_host_ed25519_key.pub", true},
		{"/etc/kubernetes/admin.conf", false},
		{"/etc/cni/net.d/calico-kubeconfig", false},
		{"/root/.kube/config", false},
		{"/home/ds/project", false},
		{"/tmp/app", false},
		{"/work/repo/bin/skiff", false},
		{"/usr/../root", false},
	}
	for _, tt := range tests {
		if got := Visible(tt.path); got != tt.want {
			t.Errorf("Visible(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestHostLayerHidesWhatIsNotAllowed: the layer is computed from this
// machine's root, so it checks properties, not a fixed list.
func TestHostLayerHidesWhatIsNotAllowed(t *testing.T) {
	l := hostLayer()
	for _, p := range l.whiteouts {
		if slices.Contains(systemPaths, p) || slices.Contains(kernelPaths, p) {
			t.Errorf("layer hides %s, an allowed path", p)
		}
	}
	for _, d := range []string{"/tmp", "/root", "/home", "/var"} {
		if !slices.ContainsFunc(l.opaque, func(e emptyDir) bool { return e.path == d }) {
			t.Errorf("layer does not empty %s", d)
		}
		if !slices.Contains(l.hidden(), d) {
			t.Errorf("%s is not among the hidden paths (its host submounts would show)", d)
		}
	}
}
