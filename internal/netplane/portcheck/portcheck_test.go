package portcheck

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func service(targets ...intstr.IntOrString) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	for i, t := range targets {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: int32(80 + i), TargetPort: t, Protocol: corev1.ProtocolTCP})
	}
	return svc
}

func pod(ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: ports}}}}
}

func TestUnmatched(t *testing.T) {
	gone := pod()
	gone.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want string
	}{
		{name: "a numbered target port", svc: service(intstr.FromInt32(8080)), pods: []*corev1.Pod{pod()}},
		{name: "a named port the pod declares", svc: service(intstr.FromString("http")),
			pods: []*corev1.Pod{pod(corev1.ContainerPort{Name: "http", ContainerPort: 8080})}},
		{name: "declared with the default protocol", svc: service(intstr.FromString("http")),
			pods: []*corev1.Pod{pod(corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP})}},
		{name: "no pods yet: nothing to say", svc: service(intstr.FromString("http"))},
		{name: "only pods on their way out", svc: service(intstr.FromString("http")), pods: []*corev1.Pod{gone}},
		{name: "a named port no pod declares", svc: service(intstr.FromString("http")),
			pods: []*corev1.Pod{pod(corev1.ContainerPort{ContainerPort: 8080}), pod()},
			want: `targetPort "http" (port 80) matches no named containerPort of the 2 pod(s) this Service selects (app=web), so connections to it time out: ` +
				`name the container's port so in the pod template (ports: [{name: ..., containerPort: ...}]), or give targetPort as a number`},
		{name: "the name on another protocol", svc: service(intstr.FromInt32(9000), intstr.FromString("dns")),
			pods: []*corev1.Pod{pod(corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP})},
			want: `targetPort "dns" (port 81) matches no named containerPort of the 1 pod(s) this Service selects (app=web), so connections to it time out: ` +
				`name the container's port so in the pod template (ports: [{name: ..., containerPort: ...}]), or give targetPort as a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Unmatched(tt.svc, tt.pods); got != tt.want {
				t.Errorf("Unmatched() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
