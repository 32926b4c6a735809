package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// cpuServer answers each request after ~20 ms of pure CPU work.
const cpuServer = `import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        end = time.process_time() + 0.02
        while time.process_time() < end: pass
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()`

func autoscaleManifest() string {
	script := "          " + strings.ReplaceAll(cpuServer, "\n", "\n          ")
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: cpu-api}
spec:
  replicas: 1
  selector: {matchLabels: {app: cpu-api}}
  template:
    metadata: {labels: {app: cpu-api}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: api
        image: python:3.6
        command:
        - python3
        - -c
        - |
` + script + `
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
        resources: {requests: {cpu: 100m}, limits: {cpu: 500m, memory: 128Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: cpu-api}
spec:
  selector: {app: cpu-api}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: cpu-api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: cpu-api}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Pods, value: 4, periodSeconds: 15}]}
    scaleDown: {stabilizationWindowSeconds: 5, policies: [{type: Percent, value: 100, periodSeconds: 15}]}
`
}

// TestHorizontalAutoscaling loads a CPU-bound API through its Service
// until the upstream HPA controller scales it from 1 to at least 3
// replicas on metrics-server's numbers, then stops, and it scales back.
func TestHorizontalAutoscaling(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	in.apply(t, autoscaleManifest())
	in.mustKubectl("rollout", "status", "deployment/cpu-api", "--timeout=2m")
	clusterIP := in.jsonpath("get", "service", "cpu-api", "-o", "jsonpath={.spec.clusterIP}")

	// A bounded load loop (4 clients, at most 4 minutes) to the Service.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(4 * time.Minute)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				if resp, err := client.Get("http://" + clusterIP + "/"); err == nil {
					resp.Body.Close()
				} else {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	loadStart := time.Now()
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()

	replicas := func() int {
		n, _ := strconv.Atoi(in.jsonpath("get", "deployment", "cpu-api", "-o", "jsonpath={.spec.replicas}"))
		return n
	}
	eventually(t, 3*time.Minute, "scale-up to at least 3 replicas", func() error {
		if n := replicas(); n < 3 {
			return fmt.Errorf("%d replicas; hpa: %s", n, in.jsonpath("get", "hpa", "cpu-api", "-o", "jsonpath={.status.currentMetrics}"))
		}
		return nil
	})
	t.Logf("scaled to %d replicas %s after the load started", replicas(), time.Since(loadStart).Round(time.Second))
	// Vertical: requests recommended from the usage the node sampled
	// (every 15 s) while the load runs, the pods at their 500m limit.
	type advice []struct {
		Container   string
		CPURequest  string
		Recommended *struct {
			CPU     resource.Quantity
			Memory  resource.Quantity
			Samples int
		}
	}
	var got advice
	eventually(t, 90*time.Second, "a recommendation for cpu-api", func() error {
		out, err := in.skiff("recommend", "deployment/cpu-api", "-o", "json")
		if err != nil {
			return fmt.Errorf("skiff recommend: %v\n%s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			return fmt.Errorf("skiff recommend -o json: %v\n%s", err, out)
		}
		if len(got) != 1 || got[0].Recommended == nil {
			return fmt.Errorf("no recommendation yet: %s", out)
		}
		return nil
	})
	if got[0].CPURequest != "100m" {
		t.Errorf("current request %q, want 100m", got[0].CPURequest)
	}
	r := got[0].Recommended
	if cpu := r.CPU.MilliValue(); cpu < 250 || cpu > 700 {
		t.Errorf("recommended %dm CPU from %d samples of pods loaded up to their 500m limit", cpu, r.Samples)
	}
	// The VPA floor (250Mi) is above this 128Mi limit: the table says so
	// beside the observed usage, and a lower floor follows the usage.
	table, err := in.skiff("recommend", "deployment/cpu-api")
	if err != nil || !strings.Contains(table, "MEMORY USED P50/P90") || !strings.Contains(table, "the memory advice 250Mi is above the limit 128Mi") {
		t.Errorf("skiff recommend: %v\n%s", err, table)
	}
	t.Logf("skiff recommend deployment/cpu-api:\n%s", table)
	if low, err := in.skiff("recommend", "deployment/cpu-api", "--min-memory", "16Mi"); err != nil || strings.Contains(low, "memory advice") || !strings.Contains(low, "--requests=cpu=") {
		t.Errorf("skiff recommend --min-memory 16Mi: %v\n%s", err, low)
	}
	if out, err := in.skiff("recommend", "deployment/missing"); err == nil || !strings.Contains(out, "deployment default/missing") {
		t.Errorf("recommend for a missing Deployment: %v %s", err, out)
	}
	stopLoad()
	loadStop := time.Now()
	eventually(t, 3*time.Minute, "scale-down to 1 replica", func() error {
		if n := replicas(); n != 1 {
			return fmt.Errorf("%d replicas", n)
		}
		return nil
	})
	t.Logf("scaled back to 1 replica %s after the load stopped", time.Since(loadStop).Round(time.Second))

	// Bad input: an HPA on a metric nobody serves (no custom metrics API)
	// and one whose target does not exist say so in their conditions, as
	// upstream's do.
	in.mustKubectl("delete", "hpa", "cpu-api") // one HPA per target
	in.apply(t, `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: custom}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: cpu-api}
  maxReplicas: 3
  metrics: [{type: Pods, pods: {metric: {name: requests_per_second}, target: {type: AverageValue, averageValue: "10"}}}]
`)
	in.waitJSONPath(t, time.Minute, "FailedGetPodsMetric", "get", "hpa", "custom", "-o",
		`jsonpath={.status.conditions[?(@.type=="ScalingActive")].reason}`)
	in.apply(t, `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: orphan}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: missing}
  maxReplicas: 3
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
`)
	in.waitJSONPath(t, time.Minute, "FailedGetScale", "get", "hpa", "orphan", "-o",
		`jsonpath={.status.conditions[?(@.type=="AbleToScale")].reason}`)
}
