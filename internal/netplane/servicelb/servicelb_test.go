package servicelb

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func lbService(name string, port int32, class *string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "127.0.0.1", LoadBalancerClass: class,
			Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: port}}},
	}
}

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int32 {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func TestLoadBalancerGetsTheNodeAddressAndALoopbackRelay(t *testing.T) {
	// The Service's ClusterIP is 127.0.0.2 here: the relay on
	// 127.0.0.1:<port> forwards to a server there, as to a real ClusterIP.
	target, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "served")
			c.Close()
		}
	}()
	port := int32(target.Addr().(*net.TCPAddr).Port)
	svc := lbService("web", port, nil)
	svc.Spec.ClusterIP = "127.0.0.2"
	other := "example.com/other"
	client := fake.NewClientset(svc, lbService("elsewhere", freePort(t), &other))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Config{Client: client, NodeIP: net.ParseIP("192.0.2.2"), Loopback: true}) }()
	defer func() {
		cancel()
		<-done
	}()

	deadline := time.Now().Add(10 * time.Second)
	var got []corev1.LoadBalancerIngress
	for time.Now().Before(deadline) {
		s, _ := client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if got = s.Status.LoadBalancer.Ingress; len(got) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	vip := corev1.LoadBalancerIPModeVIP
	if diff := cmp.Diff([]corev1.LoadBalancerIngress{{IP: "192.0.2.2", IPMode: &vip}}, got); diff != "" {
		t.Errorf("ingress (-want +got):\n%s", diff)
	}
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(int(port)), 3*time.Second)
	if err != nil {
		t.Fatalf("loopback relay: %v", err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "served" {
		t.Errorf("through the relay: %q", b)
	}
	// Another class's Service is not ours.
	if s, _ := client.CoreV1().Services("default").Get(ctx, "elsewhere", metav1.GetOptions{}); len(s.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("a Service of another load-balancer class got %v", s.Status.LoadBalancer.Ingress)
	}

	// Deleted: the relay goes.
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(int(port)))
		if err != nil {
			return
		}
		c.Close()
	}
	t.Error("the relay outlived its Service")
}
