package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// markerProcesses counts host processes whose command line holds marker.
func markerProcesses(marker string) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), marker) {
			n++
		}
	}
	return n
}

// TestBurstAndNamespaceDeletion fills the node with a team's pods at once,
// checks every status arrives, then deletes the namespace and checks every
// process went with it.
func TestBurstAndNamespaceDeletion(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	// With a 60-completion Job beside them, within the node's 110 pods.
	const replicas = 80
	marker := fmt.Sprintf("%d", 3000000+time.Now().Unix()%100000) // a unique sleep length
	in.mustKubectl("create", "namespace", "team-a")
	in.mustKubectl("-n", "team-a", "create", "deployment", "workers", "--image=python:3.6", "--replicas="+strconv.Itoa(replicas), "--", "sleep", marker)
	job := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(job, []byte(burstJob), 0o644); err != nil {
		t.Fatal(err)
	}
	in.mustKubectl("create", "-f", job)
	start := time.Now()
	in.waitJSONPath(t, 4*time.Minute, strconv.Itoa(replicas), "-n", "team-a", "get", "deployment", "workers", "-o", "jsonpath={.status.readyReplicas}")
	t.Logf("%d replicas ready in %s", replicas, time.Since(start).Round(time.Millisecond))
	in.waitJSONPath(t, 4*time.Minute, "60", "-n", "team-a", "get", "job", "batch", "-o", "jsonpath={.status.succeeded}")
	running := strings.Count(in.mustKubectl("-n", "team-a", "get", "pods", "-l", "app=workers", "--no-headers"), "Running")
	if running != replicas {
		t.Errorf("%d pods Running, want %d", running, replicas)
	}
	if n := markerProcesses("sleep\x00" + marker); n != replicas {
		t.Errorf("%d worker processes on the host, want %d", n, replicas)
	}

	start = time.Now()
	in.mustKubectl("delete", "namespace", "team-a", "--wait=false")
	eventually(t, 3*time.Minute, "namespace gone", func() error {
		if _, err := in.kubectl("get", "namespace", "team-a"); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	t.Logf("namespace with %d running pods deleted in %s", replicas, time.Since(start).Round(time.Millisecond))
	eventually(t, 30*time.Second, "no worker process left", func() error {
		if n := markerProcesses("sleep\x00" + marker); n > 0 {
			return fmt.Errorf("%d left", n)
		}
		return nil
	})
}

const burstJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: batch
  namespace: team-a
spec:
  completions: 60
  parallelism: 20
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: score
        image: python:3.6
        command: ["sh", "-c", "echo scored"]
`
