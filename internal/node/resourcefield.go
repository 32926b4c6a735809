package node

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// resourceFieldValue reads a container's request or limit for the
// downward API (env resourceFieldRef and downwardAPI volume items) in
// units of the divisor, rounded up. An unset limit reads as the node's
// allocatable, as on a kubelet.
func resourceFieldValue(pod *corev1.Pod, container string, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if ref.ContainerName != "" {
		container = ref.ContainerName
	}
	c := findContainer(pod, container)
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %q: container %q is not in pod %s/%s", ref.Resource, container, pod.Namespace, pod.Name)
	}
	var name corev1.ResourceName
	var list corev1.ResourceList
	var limit bool
	switch ref.Resource {
	case "limits.cpu", "limits.memory", "limits.ephemeral-storage":
		name, list, limit = corev1.ResourceName(ref.Resource[len("limits."):]), c.Resources.Limits, true
	case "requests.cpu", "requests.memory", "requests.ephemeral-storage":
		name, list = corev1.ResourceName(ref.Resource[len("requests."):]), c.Resources.Requests
	default:
		return "", fmt.Errorf("resourceFieldRef %q is not supported (use limits. or requests. of cpu, memory or ephemeral-storage)", ref.Resource)
	}
	q, ok := list[name]
	if !ok && limit {
		q, ok = allocatable[name]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if !ok {
		return "0", nil
	}
	if name == corev1.ResourceCPU {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// addResourceFieldEnv sets the env vars that the original pod (as stored
// in the API) fills from resourceFieldRef: virtual-kubelet resolves every
// other valueFrom into pod, but leaves these out.
func addResourceFieldEnv(pod, orig *corev1.Pod, allocatable corev1.ResourceList) error {
	for _, oc := range append(append([]corev1.Container{}, orig.Spec.InitContainers...), orig.Spec.Containers...) {
		c := findContainer(pod, oc.Name)
		if c == nil {
			continue
		}
		for _, e := range oc.Env {
			if e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil {
				continue
			}
			val, err := resourceFieldValue(orig, oc.Name, e.ValueFrom.ResourceFieldRef, allocatable)
			if err != nil {
				return fmt.Errorf("env %s of container %q: %w", e.Name, oc.Name, err)
			}
			c.Env = append(c.Env, corev1.EnvVar{Name: e.Name, Value: val})
		}
	}
	return nil
}
