package node

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// claimFolder is the host folder behind a pod's persistentVolumeClaim
// volume: its bound PV's local or hostPath folder, the kinds of volume a
// process node can mount (local-path's PVs are local volumes).
func (v *volumes) claimFolder(ctx context.Context, namespace, claimName string) (string, error) {
	claim, err := v.client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s: %w", namespace, claimName, err)
	}
	if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s is not bound yet (phase %s)", namespace, claimName, claim.Status.Phase)
	}
	pv, err := v.client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolume %s of claim %s/%s: %w", claim.Spec.VolumeName, namespace, claimName, err)
	}
	switch src := pv.Spec.PersistentVolumeSource; {
	case src.Local != nil:
		if fi, err := os.Stat(src.Local.Path); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("persistentvolume %s: local path %s is not a folder on this node", pv.Name, src.Local.Path)
		}
		return src.Local.Path, nil
	case src.HostPath != nil:
		path, err := hostPath(src.HostPath)
		if err != nil {
			return "", fmt.Errorf("persistentvolume %s: %w", pv.Name, err)
		}
		return path, nil
	}
	return "", fmt.Errorf("persistentvolume %s is neither a local nor a hostPath volume, the kinds this node mounts", pv.Name)
}
