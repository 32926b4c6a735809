package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const volumePod = `apiVersion: v1
kind: Pod
metadata:
  name: volumes
  labels:
    team: ml
spec:
  restartPolicy: Never
  volumes:
  - name: config
    configMap:
      name: model-config
  - name: creds
    secret:
      secretName: model-creds
      items:
      - key: token
        path: api/token
  - name: scratch
    emptyDir: {}
  - name: shm
    emptyDir:
      medium: Memory
      sizeLimit: 1Mi
  - name: info
    downwardAPI:
      items:
      - path: labels
        fieldRef:
          fieldPath: metadata.labels
      - path: mem-limit-mi
        resourceFieldRef:
          containerName: main
          resource: limits.memory
          divisor: 1Mi
  - name: data
    hostPath:
      path: HOSTDIR
      type: Directory
  initContainers:
  - name: prepare
    image: python:3.6
    command: ["sh", "-c", "echo from-init > /scratch/handoff"]
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
  containers:
  - name: main
    image: python:3.6
    resources:
      requests: {cpu: 100m}
      limits: {memory: 200Mi}
    env:
    - name: CPU_REQUEST_M
      valueFrom:
        resourceFieldRef: {resource: requests.cpu, divisor: 1m}
    command:
    - sh
    - -c
    - |
      cat /etc/model/threshold; echo
      cat /secrets/api/token; echo
      cat /scratch/handoff
      cat /info/labels; echo
      echo "mem=$(cat /info/mem-limit-mi) cpu=$CPU_REQUEST_M"
      cat /data/input.csv
      test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo has-token
      cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo
      echo result > /data/output.csv
      echo ram > /dev/shm/x && echo shm-ok
      dd if=/dev/zero of=/dev/shm/big bs=1M count=2 2>/dev/null || echo shm-capped
      touch /etc/model/nope 2>/dev/null || echo config-read-only
    volumeMounts:
    - {name: config, mountPath: /etc/model, readOnly: true}
    - {name: creds, mountPath: /secrets}
    - {name: scratch, mountPath: /scratch}
    - {name: info, mountPath: /info}
    - {name: data, mountPath: /data}
    - {name: shm, mountPath: /dev/shm}
`

// TestVolumes mounts every supported volume type into a sandboxed pod.
func TestVolumes(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "input.csv"), []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(manifest, []byte(strings.ReplaceAll(volumePod, "HOSTDIR", host)), 0o644); err != nil {
		t.Fatal(err)
	}
	in.mustKubectl("create", "configmap", "model-config", "--from-literal=threshold=0.75")
	in.mustKubectl("create", "secret", "generic", "model-creds", "--from-literal=token=s3cr3t")
	in.mustKubectl("create", "-f", manifest)
	in.waitPhase(t, "volumes", "Succeeded")
	logs := in.mustKubectl("logs", "volumes")
	for _, want := range []string{"0.75\n", "s3cr3t\n", "from-init\n", `team="ml"`, "mem=200 cpu=100\n", "1,2\n", "has-token\n", "default\n", "shm-ok\n", "shm-capped\n", "config-read-only\n"} {
		if !strings.Contains(logs, want) {
			t.Errorf("pod output lacks %q:\n%s", want, logs)
		}
	}
	// /var/run is a symlink to /run here: the token's mount point must
	// have been made inside the pod's root, not on the host.
	if target, _ := os.Readlink("/var/run"); target != "" {
		if _, err := os.Stat("/run/secrets/kubernetes.io/serviceaccount"); err == nil {
			t.Error("the service-account mount point escaped onto the host's /run")
		}
	}
	if out, err := os.ReadFile(filepath.Join(host, "output.csv")); err != nil || string(out) != "result\n" {
		t.Errorf("hostPath write-back = %q, %v", out, err)
	}
}
