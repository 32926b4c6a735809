package localpath

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// ClassName is the default StorageClass's name, as in k3s and kind.
const ClassName = "local-path"

// StorageClass is the default class: volumes made for a claim once its
// first pod is scheduled (so on the node the pod runs on), and deleted
// with their data when the claim goes.
func StorageClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: ClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
}

// EnsureStorageClass creates the default class unless a class of that
// name exists (a user's edits are theirs to keep).
func EnsureStorageClass(ctx context.Context, client kubernetes.Interface) error {
	_, err := client.StorageV1().StorageClasses().Create(ctx, StorageClass(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating storage class %s: %w", ClassName, err)
	}
	return nil
}

// Run serves local-path claims until ctx ends. The controller's state is
// the API's (claims, volumes and their annotations), so a skiff killed at
// any point picks up where it was: a folder made for a volume whose PV
// was not yet created is made again, idempotently, under the same name.
func Run(ctx context.Context, client kubernetes.Interface, p *Provisioner) error {
	if err := os.MkdirAll(p.Root, 0o711); err != nil {
		return fmt.Errorf("volume folder %s: %w", p.Root, err)
	}
	if err := EnsureStorageClass(ctx, client); err != nil {
		return err
	}
	ctrl := controller.NewProvisionController(ctx, client, ProvisionerName, p,
		controller.LeaderElection(false), // one node, one provisioner
		controller.Threadiness(2),
		controller.AddFinalizer(true), // a folder is removed before its PV goes
	)
	ctrl.Run(ctx)
	return nil
}
