package registry

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get
// +kubebuilder:rbac:groups="",resources=persistentvolumes,verbs=get

// resolveClaim turns pvc://<claim>/<path> (KServe's form, a claim in the
// version's namespace) into the file:// URI of that path as the registry
// reads it: under Options.ClaimsDir/<namespace>/<claim> when the claim is
// mounted there (the operator on another cluster), else in the folder of
// the claim's local or hostPath volume on this host (skiff's node). Other
// URIs come back as they are.
func (r *VersionReconciler) resolveClaim(ctx context.Context, namespace, uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "pvc://")
	if !ok {
		return uri, nil
	}
	claimName, sub, _ := strings.Cut(rest, "/")
	sub = filepath.Clean("/" + sub)
	if d := r.Options.ClaimsDir; d != "" {
		root := filepath.Join(d, namespace, claimName)
		if fi, err := os.Stat(root); err == nil && fi.IsDir() {
			return "file://" + filepath.Join(root, sub), nil
		}
	}
	root, err := claimFolder(ctx, r.reader(), namespace, claimName)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", uri, err)
	}
	return "file://" + filepath.Join(root, sub), nil
}

// claimFolder is the folder on this host behind a bound claim.
func claimFolder(ctx context.Context, c client.Reader, namespace, name string) (string, error) {
	var claim corev1.PersistentVolumeClaim
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &claim); err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s: %w", namespace, name, err)
	}
	if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s is not bound (phase %s)", namespace, name, claim.Status.Phase)
	}
	var pv corev1.PersistentVolume
	if err := c.Get(ctx, client.ObjectKey{Name: claim.Spec.VolumeName}, &pv); err != nil {
		return "", fmt.Errorf("persistentvolume %s of claim %s/%s: %w", claim.Spec.VolumeName, namespace, name, err)
	}
	var folder string
	switch src := pv.Spec.PersistentVolumeSource; {
	case src.Local != nil:
		folder = src.Local.Path
	case src.HostPath != nil:
		folder = src.HostPath.Path
	}
	if fi, err := os.Stat(folder); folder == "" || err != nil || !fi.IsDir() {
		return "", fmt.Errorf("persistentvolumeclaim %s/%s: its volume %s is not a folder on the registry's host; mount the claim into the operator at <--registry-claims-dir>/%s/%s",
			namespace, name, pv.Name, namespace, name)
	}
	return folder, nil
}

func (r *VersionReconciler) reader() client.Reader {
	if r.Reader != nil {
		return r.Reader
	}
	return r.Client
}
