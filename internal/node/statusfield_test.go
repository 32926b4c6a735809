package node

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func statusRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
}

// TestStatusFieldsReachTheRuntime: the informer marks status fieldRefs
// so that virtual-kubelet resolves them (to nothing) instead of retrying
// the pod for ever, and the provider gives the runtime the fields back.
func TestStatusFieldsReachTheRuntime(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "main", Env: []corev1.EnvVar{
			{Name: "POD_IP", ValueFrom: statusRef("status.podIP")},
			{Name: "NODE", ValueFrom: statusRef("spec.nodeName")},
			{Name: "HOST_IPS", ValueFrom: statusRef("status.hostIPs")},
			{Name: "ADDR", Value: "$(POD_IP):8080"},
		}}}}}
	obj, err := markStatusFields(pod)
	if err != nil {
		t.Fatal(err)
	}
	marked := obj.(*corev1.Pod)
	gotPaths := []string{}
	for _, e := range marked.Spec.Containers[0].Env {
		if e.ValueFrom != nil {
			gotPaths = append(gotPaths, e.ValueFrom.FieldRef.FieldPath)
		}
	}
	wantPaths := []string{"metadata.annotations['downward.skiff.dev/status.podIP']", "spec.nodeName", "metadata.annotations['downward.skiff.dev/status.hostIPs']"}
	if diff := cmp.Diff(wantPaths, gotPaths); diff != "" {
		t.Errorf("marked field paths (-want +got):\n%s", diff)
	}
	if pod.Spec.Containers[0].Env[0].ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Error("marking changed the informer's input object")
	}

	// What virtual-kubelet hands the provider: plain values only.
	forProvider := pod.DeepCopy()
	forProvider.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "HOST_IPS"}, {Name: "ADDR", Value: ":8080"}, {Name: "NODE", Value: "skiff"}, {Name: "POD_IP"}}
	addStatusFieldEnv(forProvider, marked)
	// The status variables and what refers to them come last, in the
	// pod's order, for the runtime to expand.
	want := []corev1.EnvVar{
		{Name: "NODE", Value: "skiff"},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "HOST_IPS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIPs"}}},
		{Name: "ADDR", Value: "$(POD_IP):8080"},
	}
	if diff := cmp.Diff(want, forProvider.Spec.Containers[0].Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}
