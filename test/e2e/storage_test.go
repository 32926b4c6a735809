package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// storeSet keeps a first-run stamp in its claim, and reads it through a
// subPath mount too.
const storeSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: store
spec:
  serviceName: store
  replicas: 1
  selector:
    matchLabels: {app: store}
  template:
    metadata:
      labels: {app: store}
    spec:
      securityContext: {runAsUser: 1000, fsGroup: 1000}
      containers:
      - name: main
        image: python:3.6
        command:
        - sh
        - -c
        - |
          test -f /data/stamp || echo "first-$(date +%s%N)" > /data/stamp
          cat /data/stamp
          test -f /nested/note || echo "in-subpath" > /nested/note
          cat /data/sub/note
          exec sleep 3600
        volumeMounts:
        - {name: data, mountPath: /data}
        - {name: data, mountPath: /nested, subPath: sub}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 16Mi}}
`

const hugeClaim = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: huge
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1000Pi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: huge-user
spec:
  containers:
  - name: main
    image: python:3.6
    command: ["sleep", "60"]
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: huge}
`

// TestPersistentVolumes: the default local-path class gives a
// StatefulSet's claim a folder that outlives its pods and skiff itself,
// and goes with the claim; a claim larger than the disk is refused.
func TestPersistentVolumes(t *testing.T) {
	in := newInstance(t)
	volumes := filepath.Join(t.TempDir(), "volumes")
	in.up("--write-kubeconfig=false", "--volumes-dir", volumes)
	if got := in.jsonpath("get", "storageclass", "local-path", "-o",
		`jsonpath={.metadata.annotations.storageclass\.kubernetes\.io/is-default-class} {.volumeBindingMode} {.reclaimPolicy}`); got != "true WaitForFirstConsumer Delete" {
		t.Fatalf("storage class local-path = %q, want the default, WaitForFirstConsumer, Delete", got)
	}
	stamp := func() string {
		t.Helper()
		in.waitPhase(t, "store-0", "Running")
		var logs string
		eventually(t, 30*time.Second, "store-0 logs", func() error {
			logs = in.jsonpath("logs", "store-0")
			if !strings.Contains(logs, "in-subpath") {
				return fmt.Errorf("logs %q", logs)
			}
			return nil
		})
		return logs
	}
	in.apply(t, storeSet)
	first := stamp()
	if !strings.HasPrefix(first, "first-") {
		t.Fatalf("store-0 printed %q, want its stamp", first)
	}
	pv := in.jsonpath("get", "pvc", "data-store-0", "-o", "jsonpath={.spec.volumeName}")
	folder := filepath.Join(volumes, pv)
	if fi, err := os.Stat(folder); err != nil || !fi.IsDir() {
		t.Fatalf("volume %s has no folder %s: %v", pv, folder, err)
	}

	// The data outlives the pods, and a restart of skiff.
	in.mustKubectl("delete", "statefulset", "store", "--wait")
	in.mustKubectl("wait", "--for=delete", "pod/store-0", "--timeout=60s")
	in.down()
	in.up("--write-kubeconfig=false", "--volumes-dir", volumes)
	in.apply(t, storeSet)
	if again := stamp(); again != first {
		t.Errorf("after the StatefulSet and skiff came back, store-0 printed %q, want %q", again, first)
	}

	// Deleting the claim removes the volume and its folder.
	in.mustKubectl("delete", "statefulset", "store", "--wait")
	in.mustKubectl("wait", "--for=delete", "pod/store-0", "--timeout=60s")
	in.mustKubectl("delete", "pvc", "data-store-0", "--wait")
	eventually(t, 60*time.Second, "volume "+pv+" and its folder gone", func() error {
		if out, err := in.kubectl("get", "pv", pv); err == nil {
			return fmt.Errorf("pv still there: %s", out)
		}
		if _, err := os.Stat(folder); err == nil {
			return fmt.Errorf("folder %s still there", folder)
		}
		return nil
	})

	// A claim larger than the disk is refused, with an event saying so.
	in.apply(t, hugeClaim)
	eventually(t, 60*time.Second, "ProvisioningFailed event on claim huge", func() error {
		out := in.jsonpath("get", "events", "--field-selector", "involvedObject.name=huge,reason=ProvisioningFailed", "-o", "jsonpath={.items[*].message}")
		if !strings.Contains(out, "asks for 1000Pi") || !strings.Contains(out, "free") {
			return fmt.Errorf("events %q", out)
		}
		return nil
	})
	if phase := in.jsonpath("get", "pvc", "huge", "-o", "jsonpath={.status.phase}"); phase != "Pending" {
		t.Errorf("claim huge is %q, want Pending", phase)
	}
}
