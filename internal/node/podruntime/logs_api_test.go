package podruntime

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestCheckLogsSaysWhy: a log that cannot be read yet has a reason, found
// before any stream starts (issue 16: kubectl logs said InternalError).
func TestCheckLogsSaysWhy(t *testing.T) {
	rt := newRuntime(t)
	pod := newPod("waits").init("first", "sleep", "30").container("main", "sh", "-c", "echo hi").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "waits", "the init container running", func(p *corev1.Pod) bool {
		return len(p.Status.InitContainerStatuses) > 0 && p.Status.InitContainerStatuses[0].State.Running != nil
	})
	tests := []struct {
		name, pod, container string
		want                 string
		noSuchPod            bool
	}{
		{name: "waiting", pod: "waits", container: "main", want: `container "main" in pod "waits" has not started yet (PodInitializing)`},
		{name: "no such container", pod: "waits", container: "nope", want: `container "nope" is not valid for pod default/waits`},
		{name: "no such pod", pod: "gone", container: "main", want: "pod default/gone is not running on this node", noSuchPod: true},
		{name: "running", pod: "waits", container: "first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rt.CheckLogs("default", tt.pod, tt.container, false)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckLogs of a running container: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckLogs: %v, want %q", err, tt.want)
			}
			if got := errors.Is(err, ErrNoSuchPod); got != tt.noSuchPod {
				t.Errorf("errors.Is(ErrNoSuchPod) = %v", got)
			}
		})
	}
}
