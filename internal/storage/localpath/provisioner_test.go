package localpath

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// claim builds a PVC for the tests.
func claim(size string, change ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "team"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	for _, f := range change {
		f(c)
	}
	return c
}

func options(c *corev1.PersistentVolumeClaim) controller.ProvisionOptions {
	return controller.ProvisionOptions{StorageClass: StorageClass(), PVName: "pvc-1234", PVC: c, SelectedNodeName: "skiff"}
}

func TestProvisionMakesAFolderAndALocalVolume(t *testing.T) {
	p := &Provisioner{Root: filepath.Join(t.TempDir(), "volumes"), Node: "skiff"}
	pv, state, err := p.Provision(context.Background(), options(claim("16Mi")))
	if err != nil || state != controller.ProvisioningFinished {
		t.Fatalf("Provision = %v, %v", state, err)
	}
	folder := filepath.Join(p.Root, "pvc-1234")
	if fi, err := os.Stat(folder); err != nil || fi.Mode().Perm() != 0o777 {
		t.Fatalf("folder %s: %v, %v; want a 0777 folder", folder, fi, err)
	}
	want := corev1.PersistentVolumeSpec{
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
		AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
		Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("16Mi")},
		PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: folder}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"skiff"}}},
		}}}},
	}
	if diff := cmp.Diff(want, pv.Spec); diff != "" {
		t.Errorf("PV spec (-want +got):\n%s", diff)
	}
	// Provisioning again (after a crash before the PV was created) is
	// the same.
	if _, _, err := p.Provision(context.Background(), options(claim("16Mi"))); err != nil {
		t.Errorf("second Provision: %v", err)
	}
	if err := os.WriteFile(filepath.Join(folder, "weights"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(context.Background(), pv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(folder); !os.IsNotExist(err) {
		t.Errorf("folder %s outlived Delete: %v", folder, err)
	}
}

func TestProvisionRefusals(t *testing.T) {
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		node    string
		wantErr string
	}{
		{name: "larger than the disk", claim: claim("1000Pi"), wantErr: "team/data asks for 1000Pi, but"},
		{name: "block mode", claim: claim("1Mi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
		}), wantErr: "spec.volumeMode Block is not supported"},
		{name: "selector", claim: claim("1Mi", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"disk": "ssd"}}
		}), wantErr: "spec.selector is not supported"},
		{name: "another node", claim: claim("1Mi"), node: "elsewhere", wantErr: "the scheduler chose node elsewhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Provisioner{Root: t.TempDir(), Node: "skiff"}
			opts := options(tt.claim)
			if tt.node != "" {
				opts.SelectedNodeName = tt.node
			}
			_, state, err := p.Provision(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || state != controller.ProvisioningFinished {
				t.Errorf("Provision = %v, %v; want a final error with %q", state, err, tt.wantErr)
			}
			if entries, _ := os.ReadDir(p.Root); len(entries) != 0 {
				t.Errorf("a refused claim left %d folders", len(entries))
			}
		})
	}
}

// TestDeleteTouchesOnlyItsOwnFolders: a PV that is not one of this
// provisioner's (another path, another kind) is ignored, never removed.
func TestDeleteTouchesOnlyItsOwnFolders(t *testing.T) {
	p := &Provisioner{Root: t.TempDir(), Node: "skiff"}
	elsewhere := t.TempDir()
	for _, pv := range []*corev1.PersistentVolume{
		{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: elsewhere}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pvc-2"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: elsewhere}}}},
	} {
		var ignored *controller.IgnoredError
		if err := p.Delete(context.Background(), pv); !errors.As(err, &ignored) {
			t.Errorf("Delete(%s) = %v, want it ignored", pv.Name, err)
		}
	}
	if _, err := os.Stat(elsewhere); err != nil {
		t.Errorf("Delete removed a folder that is not its own: %v", err)
	}
}
