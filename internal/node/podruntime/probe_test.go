package podruntime

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func execProbe(cmd ...string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}, PeriodSeconds: 1, FailureThreshold: 1}
}

// eventLog collects recorded events as "Reason: message" lines.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (e *eventLog) record(_ *corev1.Pod, _, reason, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, reason+": "+msg)
}

func (e *eventLog) has(reason, substr string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.lines {
		if strings.HasPrefix(l, reason+": ") && strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

func ready(p *corev1.Pod) bool {
	cs := p.Status.ContainerStatuses
	return len(cs) == 1 && cs[0].Ready
}

func TestReadinessProbeGatesReady(t *testing.T) {
	rt := newRuntime(t)
	flag := filepath.Join(t.TempDir(), "ready")
	pod := newPod("readiness").container("main", "sleep", "30").restart(corev1.RestartPolicyAlways).pod
	pod.Spec.Containers[0].ReadinessProbe = execProbe("test", "-f", flag)
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "readiness", "Running", phase(corev1.PodRunning))
	if ready(p) {
		t.Fatal("Ready before the readiness probe passed")
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p = waitFor(t, rt, "readiness", "Ready", ready)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			t.Errorf("pod Ready condition = %s", c.Status)
		}
	}
	os.Remove(flag)
	waitFor(t, rt, "readiness", "not Ready again", func(p *corev1.Pod) bool { return !ready(p) })
}

func TestLivenessProbeRestartsContainer(t *testing.T) {
	events := &eventLog{}
	rt := newRuntime(t, withRecorder(events.record))
	pod := newPod("liveness").container("main", "sleep", "30").restart(corev1.RestartPolicyAlways).pod
	pod.Spec.Containers[0].LivenessProbe = execProbe("false")
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "liveness", "restarted", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	if !events.has("Unhealthy", "Liveness probe failed") || !events.has("Killing", "failed liveness probe") {
		t.Errorf("events %v lack Unhealthy/Killing", events.lines)
	}
}

func TestHTTPReadinessProbeWithNamedPort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Header.Get("X-Probe") != "yes" {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	rt := newRuntime(t)
	pod := newPod("http").container("main", "sleep", "30").restart(corev1.RestartPolicyAlways).pod
	c := &pod.Spec.Containers[0]
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(atoi(port))}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/healthz", Port: intstr.FromString("http"), HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}},
	}}, PeriodSeconds: 1}
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "http", "Ready", ready)
}

func TestStartupProbeHoldsOtherProbes(t *testing.T) {
	rt := newRuntime(t)
	flag := filepath.Join(t.TempDir(), "started")
	pod := newPod("startup").container("main", "sleep", "30").restart(corev1.RestartPolicyAlways).pod
	c := &pod.Spec.Containers[0]
	c.StartupProbe = execProbe("test", "-f", flag)
	c.StartupProbe.FailureThreshold = 30
	c.LivenessProbe = execProbe("true")
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, rt, "startup", "Running", phase(corev1.PodRunning))
	if cs := p.Status.ContainerStatuses[0]; *cs.Started || cs.Ready {
		t.Fatalf("started=%v ready=%v before the startup probe passed", *cs.Started, cs.Ready)
	}
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "startup", "Started and Ready", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses[0]
		return *cs.Started && cs.Ready
	})
}

// TestReadinessIsEagerUntilFirstPass: a server that answers a moment after
// it starts is ready then, not a probe period later, and its first
// moments raise no Unhealthy event.
func TestReadinessIsEagerUntilFirstPass(t *testing.T) {
	events := &eventLog{}
	rt := newRuntime(t, withRecorder(events.record))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// A server that opens its port 300 ms after it starts.
	server := fmt.Sprintf("import socket, time; time.sleep(0.3); s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', %d)); s.listen(); time.sleep(30)", port)
	pod := newPod("eager").container("main", "python3", "-c", server).restart(corev1.RestartPolicyAlways).pod
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}}, PeriodSeconds: 10, FailureThreshold: 1}
	pod.Spec.Containers[0].ReadinessProbe = probe
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, rt, "eager", "Ready", ready)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("ready after %s with a 10s period: the first probes were not retried early", took)
	}
	if events.has("Unhealthy", "") {
		t.Errorf("Unhealthy events before the first pass: %v", events.lines)
	}
}
