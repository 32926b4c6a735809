package node

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// nodeRoleName grants the node what the Node authorizer does not: the
// virtual-kubelet library resolves env and volumes from cluster-wide
// informers on ConfigMaps and Secrets rather than per-object watches.
const nodeRoleName = "skiff:node"

// EnsureRBAC creates (or updates) the ClusterRole and binding the node
// agent needs, using the admin kubeconfig.
func EnsureRBAC(ctx context.Context, adminKubeconfig, nodeName string) error {
	rest, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return err
	}
	labels := map[string]string{"app.kubernetes.io/managed-by": "skiff"}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: nodeRoleName, Labels: labels},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"configmaps", "secrets", "services"},
			Verbs:     []string{"get", "list", "watch"},
		}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: nodeRoleName, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: nodeRoleName},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "system:node:" + nodeName}},
	}
	roles := client.RbacV1().ClusterRoles()
	if err := apply(ctx, "ClusterRole", role, roles.Create, roles.Update); err != nil {
		return err
	}
	bindings := client.RbacV1().ClusterRoleBindings()
	return apply(ctx, "ClusterRoleBinding", binding, bindings.Create, bindings.Update)
}

// apply creates obj, or updates it when it exists already.
func apply[T metav1.Object](ctx context.Context, kind string, obj T,
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	update func(context.Context, T, metav1.UpdateOptions) (T, error)) error {
	_, err := create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = update(ctx, obj, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", kind, obj.GetName(), err)
	}
	return nil
}
