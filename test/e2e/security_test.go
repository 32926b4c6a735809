package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const peekPod = `apiVersion: v1
kind: Pod
metadata:
  name: peek
spec:
  restartPolicy: Never
  volumes:
  - name: data
    hostPath: {path: HOSTDIR, type: Directory}
  containers:
  - name: main
    image: python:3.6
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: HOST_IP
      valueFrom: {fieldRef: {fieldPath: status.hostIP}}
    - name: ADDR
      value: $(POD_IP):8080
    command:
    - sh
    - -c
    - |
      for f in SECRETS; do
        if cat "$f" >/dev/null 2>&1; then echo "readable $f"; else echo "hidden $f"; fi
      done
      cat /data/dataset.csv
      echo "pod-ip=$POD_IP host-ip=$HOST_IP addr=$ADDR"
      token=$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)
      api=https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
      echo "own-pods=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" $api/api/v1/namespaces/default/pods)"
      echo "secrets=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" $api/api/v1/namespaces/kube-system/secrets)"
    volumeMounts:
    - {name: data, mountPath: /data, readOnly: true}
`

const restrictedNamespace = `apiVersion: v1
kind: Namespace
metadata:
  name: locked
  labels:
    pod-security.kubernetes.io/enforce: restricted
`

// restrictedPod passes the restricted level; the node must then run it
// with no capabilities and no way to gain any.
const restrictedPod = `apiVersion: v1
kind: Pod
metadata:
  name: compliant
  namespace: locked
spec:
  restartPolicy: Never
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: main
    image: python:3.6
    command: ["sh", "-c", "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"]
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
`

const restrictedHostPathPod = `apiVersion: v1
kind: Pod
metadata:
  name: sneaky
  namespace: locked
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  volumes:
  - name: root
    hostPath: {path: /root}
  containers:
  - name: main
    image: python:3.6
    command: ["cat", "/host/.kube/config"]
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
    volumeMounts:
    - {name: root, mountPath: /host}
`

// plantFile writes a file on the host for the length of the test.
func plantFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(path) })
}

// TestNodeBoundary: from a pod, the host's credentials and other users'
// files are out of reach; what a volume names is in reach; a service
// account has its RBAC rights and no more; a restricted namespace is
// enforced at admission and honoured by the node.
func TestNodeBoundary(t *testing.T) {
	in := newInstance(t)
	in.up() // merges the admin context into $HOME/.kube/config, as for a user
	stamp := fmt.Sprint(time.Now().UnixNano())
	inRoot := "/root/skiff-e2e-" + stamp
	otherHome := "/home/skiff-e2e-" + stamp
	plantFile(t, inRoot, "root's secret")
	plantFile(t, otherHome+"/notes", "someone else's notes")
	t.Cleanup(func() { _ = os.Remove(otherHome) })
	adminConfig := filepath.Join(in.home, ".kube", "config")
	if _, err := os.Stat(adminConfig); err != nil {
		t.Fatalf("skiff up wrote no admin kubeconfig to %s: %v", adminConfig, err)
	}
	secrets := []string{adminConfig, in.kubeconfig(), filepath.Join(in.dataDir, "pki", "ca.key"), inRoot, otherHome + "/notes", "/etc/shadow"}
	host := t.TempDir()
	plantFile(t, filepath.Join(host, "dataset.csv"), "x,y\n1,2\n")
	manifest := strings.NewReplacer("HOSTDIR", host, "SECRETS", strings.Join(secrets, " ")).Replace(peekPod)
	in.apply(t, manifest)
	in.waitPhase(t, "peek", "Succeeded")
	logs := in.mustKubectl("logs", "peek")

	t.Run("host secrets are hidden", func(t *testing.T) {
		for _, f := range secrets {
			if !strings.Contains(logs, "hidden "+f+"\n") {
				t.Errorf("pod could read %s:\n%s", f, logs)
			}
		}
	})
	t.Run("a hostPath volume is readable", func(t *testing.T) {
		if !strings.Contains(logs, "x,y\n1,2\n") {
			t.Errorf("pod output lacks the hostPath file:\n%s", logs)
		}
	})
	t.Run("status fieldRefs give the addresses", func(t *testing.T) {
		podIP := in.jsonpath("get", "pod", "peek", "-o", "jsonpath={.status.podIP}")
		hostIP := in.jsonpath("get", "pod", "peek", "-o", "jsonpath={.status.hostIP}")
		if want := fmt.Sprintf("pod-ip=%s host-ip=%s addr=%s:8080\n", podIP, hostIP, podIP); podIP == "" || !strings.Contains(logs, want) {
			t.Errorf("pod output lacks %q:\n%s", want, logs)
		}
	})
	t.Run("the service account token has its RBAC rights only", func(t *testing.T) {
		// The default service account may not even list its own
		// namespace's pods; reading kube-system's secrets is refused.
		for _, want := range []string{"own-pods=403\n", "secrets=403\n"} {
			if !strings.Contains(logs, want) {
				t.Errorf("pod output lacks %q:\n%s", want, logs)
			}
		}
	})
	t.Run("a restricted namespace refuses hostPath and runs a compliant pod without privileges", func(t *testing.T) {
		in.apply(t, restrictedNamespace)
		path := filepath.Join(t.TempDir(), "sneaky.yaml")
		if err := os.WriteFile(path, []byte(restrictedHostPathPod), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := in.kubectl("apply", "-f", path)
		if err == nil || !strings.Contains(out, "hostPath") {
			t.Errorf("a hostPath pod in a restricted namespace was not refused for its hostPath: %v\n%s", err, out)
		}
		in.apply(t, restrictedPod)
		eventually(t, 60*time.Second, "compliant pod Succeeded", func() error {
			if got := in.jsonpath("get", "pod", "compliant", "-n", "locked", "-o", "jsonpath={.status.phase}"); got != "Succeeded" {
				return fmt.Errorf("phase %q", got)
			}
			return nil
		})
		got := in.mustKubectl("logs", "compliant", "-n", "locked")
		if want := "1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n"; got != want {
			t.Errorf("compliant pod printed %q, want %q", got, want)
		}
	})
}
