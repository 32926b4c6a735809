package node

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func resourcePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "train", Namespace: "ml"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
			},
			Env: []corev1.EnvVar{
				{Name: "PLAIN", Value: "x"},
				{Name: "CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
				{Name: "MEM_REQUEST_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}}},
			},
		}}},
	}
}

func TestResourceFieldValue(t *testing.T) {
	allocatable := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	tests := []struct {
		resource string
		divisor  string
		want     string
		wantErr  bool
	}{
		{resource: "limits.cpu", want: "2"}, // 1.5 cores, rounded up
		{resource: "limits.cpu", divisor: "1m", want: "1500"},
		{resource: "requests.cpu", divisor: "1m", want: "250"},
		{resource: "requests.memory", divisor: "1Mi", want: "64"},
		{resource: "limits.memory", want: "8589934592"}, // unset: the node's allocatable
		{resource: "requests.ephemeral-storage", want: "0"},
		{resource: "limits.gpu", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.resource+"/"+tt.divisor, func(t *testing.T) {
			ref := &corev1.ResourceFieldSelector{Resource: tt.resource}
			if tt.divisor != "" {
				ref.Divisor = resource.MustParse(tt.divisor)
			}
			got, err := resourceFieldValue(resourcePod(), "main", ref, allocatable)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("value %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAddResourceFieldEnv(t *testing.T) {
	// What virtual-kubelet hands the provider: plain values only.
	forProvider := resourcePod()
	forProvider.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PLAIN", Value: "x"}}
	if err := addResourceFieldEnv(forProvider, resourcePod(), nil); err != nil {
		t.Fatal(err)
	}
	want := []corev1.EnvVar{{Name: "PLAIN", Value: "x"}, {Name: "CPU_LIMIT", Value: "2"}, {Name: "MEM_REQUEST_MI", Value: "64"}}
	if diff := cmp.Diff(want, forProvider.Spec.Containers[0].Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}
