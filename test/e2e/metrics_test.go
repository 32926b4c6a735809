package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNodeStats reads the kubelet summary and resource metrics of a pod
// burning one core, through the API server's node proxy, as
// metrics-server and `kubectl get --raw` do.
func TestNodeStats(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	in.mustKubectl("run", "burn", "--image=python:3.6", "--command", "--", "python3", "-c", "while True: pass")
	in.waitPhase(t, "burn", "Running")
	node := in.jsonpath("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")

	type cpu struct {
		UsageNanoCores       *uint64 `json:"usageNanoCores"`
		UsageCoreNanoSeconds uint64  `json:"usageCoreNanoSeconds"`
	}
	var summary struct {
		Node struct {
			CPU    cpu `json:"cpu"`
			Memory struct {
				WorkingSetBytes uint64 `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"node"`
		Pods []struct {
			PodRef struct{ Name string } `json:"podRef"`
			CPU    cpu                   `json:"cpu"`
		} `json:"pods"`
	}
	// The first reading has no rate (as a kubelet's); the next ones do.
	var cores float64
	eventually(t, 30*time.Second, "a rate for pod burn", func() error {
		raw := in.mustKubectl("get", "--raw", "/api/v1/nodes/"+node+"/proxy/stats/summary")
		if err := json.Unmarshal([]byte(raw), &summary); err != nil {
			return err
		}
		for _, p := range summary.Pods {
			if p.PodRef.Name == "burn" && p.CPU.UsageNanoCores != nil {
				cores = float64(*p.CPU.UsageNanoCores) / 1e9
				return nil
			}
		}
		time.Sleep(time.Second)
		return fmt.Errorf("no rate yet")
	})
	if cores < 0.5 || cores > 1.3 {
		t.Errorf("a busy loop reads %.2f cores in the summary", cores)
	}
	if summary.Node.CPU.UsageCoreNanoSeconds == 0 || summary.Node.Memory.WorkingSetBytes == 0 {
		t.Errorf("node totals missing: %+v", summary.Node)
	}
	// kubectl top, through metrics-server and the metrics.k8s.io API.
	eventually(t, 90*time.Second, "kubectl top pod burn", func() error {
		out, err := in.kubectl("top", "pod", "burn", "--no-headers")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var name string
		var milli int
		if _, err := fmt.Sscanf(out, "%s %dm", &name, &milli); err != nil {
			return fmt.Errorf("parsing %q: %v", out, err)
		}
		if milli < 800 || milli > 1200 {
			t.Errorf("kubectl top reads %dm for a pod burning one core", milli)
		}
		return nil
	})
	if out := in.mustKubectl("top", "nodes", "--no-headers"); !strings.HasPrefix(out, node) {
		t.Errorf("kubectl top nodes: %q", out)
	}
	if out := in.mustKubectl("top", "pod", "burn", "--containers", "--no-headers"); !strings.HasPrefix(out, "burn") || strings.Count(out, "burn") != 2 {
		t.Errorf("kubectl top --containers: %q", out)
	}
	// The node's own metrics, as a kubelet's /metrics.
	own := in.mustKubectl("get", "--raw", "/api/v1/nodes/"+node+"/proxy/metrics")
	for _, want := range []string{"skiff_node_pods_started_total 1", "skiff_node_pod_start_duration_seconds_count 1", "skiff_node_running_pods 1"} {
		if !strings.Contains(own, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	metrics := in.mustKubectl("get", "--raw", "/api/v1/nodes/"+node+"/proxy/metrics/resource")
	for _, want := range []string{`container_cpu_usage_seconds_total{container="burn",namespace="default",pod="burn"}`, "node_memory_working_set_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics/resource lacks %s:\n%s", want, metrics)
		}
	}
	// A pod that has just started (no metrics yet) and one that has just
	// ended do not break top for the others.
	in.mustKubectl("run", "fresh", "--image=python:3.6", "--command", "--", "sleep", "600")
	in.mustKubectl("run", "brief", "--image=python:3.6", "--restart=Never", "--command", "--", "true")
	if out := in.mustKubectl("top", "pods", "--no-headers"); !strings.Contains(out, "burn") {
		t.Errorf("kubectl top pods beside a fresh pod: %q", out)
	}
}
