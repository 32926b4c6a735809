package node

import (
	"slices"
	"strings"

	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
)

// statusFields are the downward API's fields that only the node knows
// when a container starts; virtual-kubelet refuses them ("unsupported
// fieldPath") and retries the pod for ever, with no event.
var statusFields = map[string]bool{"status.podIP": true, "status.podIPs": true, "status.hostIP": true, "status.hostIPs": true}

// statusFieldMark is where a status fieldRef points once the informer has
// read it: an annotation virtual-kubelet can resolve (to nothing), whose
// name keeps the field for the provider.
const statusFieldMark = "metadata.annotations['downward.skiff.dev/"

// deferStatusFields makes the pod informer hand status fieldRefs over to
// the runtime, which resolves them when the container starts.
func deferStatusFields(c *vknode.PodControllerConfig) error {
	return c.PodInformer.Informer().SetTransform(markStatusFields)
}

// markStatusFields points a pod's status fieldRefs at statusFieldMark.
func markStatusFields(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || !hasStatusField(pod) {
		return obj, nil
	}
	pod = pod.DeepCopy()
	forEachEnv(pod, func(e *corev1.EnvVar) {
		if ref := fieldRef(e); ref != nil && statusFields[ref.FieldPath] {
			ref.FieldPath = statusFieldMark + ref.FieldPath + "']"
		}
	})
	return pod, nil
}

func hasStatusField(pod *corev1.Pod) bool {
	found := false
	forEachEnv(pod, func(e *corev1.EnvVar) {
		if ref := fieldRef(e); ref != nil && statusFields[ref.FieldPath] {
			found = true
		}
	})
	return found
}

// addStatusFieldEnv gives the runtime back the status fieldRefs of the
// pod as the informer holds it, in place of the empty values
// virtual-kubelet resolved them to, and the plain values that refer to
// them ($(POD_IP):8080), unexpanded, after them in their order, so that
// the runtime expands them once it knows the addresses.
func addStatusFieldEnv(pod, orig *corev1.Pod) {
	for _, oc := range append(append([]corev1.Container{}, orig.Spec.InitContainers...), orig.Spec.Containers...) {
		c := findContainer(pod, oc.Name)
		if c == nil {
			continue
		}
		var deferred []corev1.EnvVar
		var refs []string // $(NAME) of the status variables so far
		for _, e := range oc.Env {
			ref := fieldRef(&e)
			switch {
			case ref != nil && strings.HasPrefix(ref.FieldPath, statusFieldMark):
				path := strings.TrimSuffix(strings.TrimPrefix(ref.FieldPath, statusFieldMark), "']")
				deferred = append(deferred, corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}})
				refs = append(refs, "$("+e.Name+")")
			case e.ValueFrom == nil && containsAny(e.Value, refs):
				deferred = append(deferred, corev1.EnvVar{Name: e.Name, Value: e.Value})
				refs = append(refs, "$("+e.Name+")")
			}
		}
		for _, d := range deferred {
			removeEnv(c, d.Name)
		}
		c.Env = append(c.Env, deferred...)
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func removeEnv(c *corev1.Container, name string) {
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

func fieldRef(e *corev1.EnvVar) *corev1.ObjectFieldSelector {
	if e.ValueFrom == nil {
		return nil
	}
	return e.ValueFrom.FieldRef
}

func forEachEnv(pod *corev1.Pod, f func(*corev1.EnvVar)) {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			for j := range list[i].Env {
				f(&list[i].Env[j])
			}
		}
	}
}
