package node

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func boundClaim(name, volume string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team"},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}, Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
}

func volume(name string, src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: src}}
}

func TestClaimFolder(t *testing.T) {
	local, host := t.TempDir(), t.TempDir()
	client := fake.NewClientset(
		boundClaim("models", "pv-local", corev1.ClaimBound),
		boundClaim("by-hand", "pv-host", corev1.ClaimBound),
		boundClaim("waiting", "", corev1.ClaimPending),
		boundClaim("nfs", "pv-nfs", corev1.ClaimBound),
		volume("pv-local", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: local}}),
		volume("pv-host", corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}),
		volume("pv-nfs", corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nas", Path: "/x"}}),
	)
	v := newVolumes(client, t.TempDir(), nil)
	tests := []struct {
		claim, want, wantErr string
	}{
		{claim: "models", want: local},
		{claim: "by-hand", want: host},
		{claim: "waiting", wantErr: "persistentvolumeclaim team/waiting is not bound yet (phase Pending)"},
		{claim: "nfs", wantErr: "persistentvolume pv-nfs is neither a local nor a hostPath volume"},
		{claim: "missing", wantErr: "persistentvolumeclaim team/missing"},
	}
	for _, tt := range tests {
		t.Run(tt.claim, func(t *testing.T) {
			got, err := v.claimFolder(context.Background(), "team", tt.claim)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("claimFolder = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
