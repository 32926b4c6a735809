// Package localpath is the node's storage: a default StorageClass,
// local-path, whose PersistentVolumes are folders on this node, made by a
// provisioner on the upstream external-provisioner library (as k3s's and
// kind's local-path provisioners are).
package localpath

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// ProvisionerName is the StorageClass provisioner this package serves.
const ProvisionerName = "skiff.dev/local-path"

// Provisioner makes and removes the folders behind local-path volumes.
type Provisioner struct {
	// Root holds one folder per volume, named after the volume.
	Root string
	// Node is this node's name: volumes are local to it.
	Node string
}

var _ controller.Provisioner = (*Provisioner)(nil)

// supportedModes are the access modes a folder on one node can honour
// (ReadWriteMany too: every pod that mounts it is on this node).
var supportedModes = []corev1.PersistentVolumeAccessMode{
	corev1.ReadWriteOnce, corev1.ReadWriteOncePod, corev1.ReadWriteMany, corev1.ReadOnlyMany,
}

// Provision makes the claim's folder and returns its PV: a local volume
// with this node's affinity, the claim's size recorded as its capacity.
func (p *Provisioner) Provision(ctx context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	claim := opts.PVC
	if err := p.check(opts); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("persistentvolumeclaim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	size := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if free, err := freeSpace(p.Root); err == nil && size.Value() > free {
		return nil, controller.ProvisioningFinished, fmt.Errorf("persistentvolumeclaim %s/%s asks for %s, but %s has %s free on node %s; ask for less, or free space there",
			claim.Namespace, claim.Name, size.String(), p.Root, resource.NewQuantity(free, resource.BinarySI).String(), p.Node)
	}
	path := filepath.Join(p.Root, opts.PVName)
	// 0777, as other local-path provisioners: a pod running as any user
	// can write its own volume (the folder is reached through Root, 0711).
	if err := os.MkdirAll(path, 0o777); err != nil {
		return nil, controller.ProvisioningNoChange, fmt.Errorf("creating the folder of volume %s: %w", opts.PVName, err)
	}
	if err := os.Chmod(path, 0o777); err != nil {
		return nil, controller.ProvisioningNoChange, fmt.Errorf("creating the folder of volume %s: %w", opts.PVName, err)
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if opts.StorageClass.ReclaimPolicy != nil {
		reclaim = *opts.StorageClass.ReclaimPolicy
	}
	filesystem := corev1.PersistentVolumeFilesystem
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   claim.Spec.AccessModes,
			VolumeMode:                    &filesystem,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			MountOptions:                  opts.StorageClass.MountOptions,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{p.Node}}},
			}}}},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

// check refuses what a folder cannot be.
func (p *Provisioner) check(opts controller.ProvisionOptions) error {
	claim := opts.PVC
	if opts.SelectedNodeName != "" && opts.SelectedNodeName != p.Node {
		return fmt.Errorf("the scheduler chose node %s, but local-path volumes are made on node %s", opts.SelectedNodeName, p.Node)
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		return fmt.Errorf("spec.volumeMode %s is not supported by local-path volumes; use Filesystem", *claim.Spec.VolumeMode)
	}
	if claim.Spec.Selector != nil {
		return errors.New("spec.selector is not supported by local-path volumes, which are made for the claim; remove it")
	}
	for _, m := range claim.Spec.AccessModes {
		if !slices.Contains(supportedModes, m) {
			return fmt.Errorf("spec.accessModes: %s is not supported by local-path volumes", m)
		}
	}
	return nil
}

// Delete removes a volume's folder, and with it the data.
func (p *Provisioner) Delete(ctx context.Context, pv *corev1.PersistentVolume) error {
	path, err := p.folder(pv)
	if err != nil {
		return &controller.IgnoredError{Reason: err.Error()}
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("removing the folder of volume %s: %w", pv.Name, err)
	}
	return nil
}

// folder is the PV's folder, if it is one of this provisioner's: below
// Root, named after the PV. Nothing else is ever removed.
func (p *Provisioner) folder(pv *corev1.PersistentVolume) (string, error) {
	if pv.Spec.Local == nil {
		return "", fmt.Errorf("volume %s is not a local volume", pv.Name)
	}
	path := filepath.Clean(pv.Spec.Local.Path)
	if path != filepath.Join(p.Root, pv.Name) || strings.Contains(pv.Name, "/") {
		return "", fmt.Errorf("volume %s's folder %s is not this node's (%s)", pv.Name, path, p.Root)
	}
	return path, nil
}

// freeSpace is what an unprivileged writer may still use on root's
// filesystem.
func freeSpace(root string) (int64, error) {
	if err := os.MkdirAll(root, 0o711); err != nil {
		return 0, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return 0, fmt.Errorf("reading the free space of %s: %w", root, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}
