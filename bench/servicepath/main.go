// Command servicepath measures what a Service costs: the same client
// sends HTTP requests to the same server pod straight at its pod IP and
// through a ClusterIP, in alternating rounds of one run, and reports
// latency p50/p99 and throughput of each, with their ratio.
//
// The server is this binary (-serve), run in a pod from a hostPath
// volume, so the numbers are the network's, not an interpreter's.
//
//	go build -o /tmp/sp ./bench/servicepath && /tmp/sp -kubeconfig ~/.skiff/kubeconfig
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "servicepath:", err)
		os.Exit(1)
	}
}

func run() error {
	serve := flag.String("serve", "", "serve HTTP on this address (the pod's mode)")
	kubeconfig := flag.String("kubeconfig", os.Getenv("HOME")+"/.skiff/kubeconfig", "kubeconfig of the cluster")
	requests := flag.Int("requests", 2000, "sequential requests per round, for latency")
	rounds := flag.Int("rounds", 5, "rounds per path, alternating")
	workers := flag.Int("workers", 4, "concurrent clients, for throughput")
	window := flag.Duration("window", 2*time.Second, "throughput window per round")
	namespace := flag.String("namespace", "servicepath-bench", "namespace to create (and delete)")
	keepAlive := flag.Bool("keepalive", false, "reuse connections (else a new connection per request: the NAT is set up each time)")
	flag.Parse()
	if *keepAlive {
		client.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	}
	if *serve != "" {
		return serveAll(strings.Split(*serve, ","))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	direct, viaService := freshPorts()
	podIP, clusterIP, cleanup, err := deploy(ctx, client, *namespace, direct, viaService)
	defer cleanup()
	if err != nil {
		return err
	}
	targets := []struct{ name, addr string }{
		{"pod IP", net.JoinHostPort(podIP, strconv.Itoa(int(direct)))},
		{"ClusterIP", net.JoinHostPort(clusterIP, "80")},
	}
	lat := make([][]time.Duration, len(targets))
	rate := make([]float64, len(targets))
	for r := 0; r < *rounds; r++ {
		for i, t := range targets {
			d, err := latencies(t.addr, *requests)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			lat[i] = append(lat[i], d...)
			n, err := throughput(t.addr, *workers, *window)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			rate[i] += n / float64(*rounds)
		}
	}
	conns := "a new connection per request"
	if *keepAlive {
		conns = "kept-alive connections"
	}
	fmt.Printf("%-10s %10s %10s %12s   (%d rounds x %d sequential requests, %d workers x %s; %s)\n",
		"PATH", "P50", "P99", "REQ/S", *rounds, *requests, *workers, *window, conns)
	p50 := make([]time.Duration, len(targets))
	for i, t := range targets {
		slices.Sort(lat[i])
		p50[i] = lat[i][len(lat[i])/2]
		fmt.Printf("%-10s %10s %10s %12.0f\n", t.name, p50[i].Round(time.Microsecond), lat[i][len(lat[i])*99/100].Round(time.Microsecond), rate[i])
	}
	fmt.Printf("ClusterIP/pod IP throughput ratio %.3f (target >= 0.95); added p50 %s (target < 50us)\n",
		rate[1]/rate[0], (p50[1] - p50[0]).Round(time.Microsecond))
	return nil
}

// serveAll answers on every address. The pod IP path and the Service
// use different ports of the one server, both new in each run: a
// connection's conntrack entry stays 2 minutes after close, and a NATed
// connection whose reply tuple (pod IP, port, client port) matches an
// entry of another path (a direct connection, or an earlier run's
// Service) has its SYN dropped by the kernel, which a benchmark that
// reuses one backend for two paths would otherwise measure.
func serveAll(addrs []string) error {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	errc := make(chan error, len(addrs))
	for _, a := range addrs {
		go func() { errc <- http.ListenAndServe(a, h) }()
	}
	return <-errc
}

// freshPorts picks the server's two ports for this run.
func freshPorts() (direct, viaService int32) {
	base := 10000 + 2*rand.Int32N(20000)
	return base, base + 1
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(addr string) error {
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

func latencies(addr string, n int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := get(addr); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

func throughput(addr string, workers int, window time.Duration) (float64, error) {
	var done atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(window)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := get(addr); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(done.Load()) / window.Seconds(), nil
}

// deploy runs this binary as a server pod behind a ClusterIP Service and
// waits until the Service has the pod as its endpoint.
func deploy(ctx context.Context, c kubernetes.Interface, ns string, direct, viaService int32) (podIP, clusterIP string, cleanup func(), err error) {
	cleanup = func() {}
	self, err := os.Executable()
	if err != nil {
		return "", "", cleanup, err
	}
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return "", "", cleanup, err
	}
	cleanup = func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) }
	labels := map[string]string{"app": "servicepath"}
	dir := filepath.Dir(self)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "server", Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "server", Image: "servicepath", Command: []string{"/bench/" + filepath.Base(self), "-serve", fmt.Sprintf(":%d,:%d", direct, viaService)},
				Ports:          []corev1.ContainerPort{{ContainerPort: direct}, {ContainerPort: viaService}},
				VolumeMounts:   []corev1.VolumeMount{{Name: "bin", MountPath: "/bench", ReadOnly: true}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(direct)}}, PeriodSeconds: 1},
			}},
			Volumes: []corev1.Volume{{Name: "bin", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "server"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(viaService)}}},
	}
	// The default ServiceAccount must exist before a pod is admitted.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err = c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return "", "", cleanup, err
	}
	created, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return "", "", cleanup, err
	}
	clusterIP = created.Spec.ClusterIP
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "server", metav1.GetOptions{})
		if err != nil || p.Status.PodIP == "" {
			continue
		}
		podIP = p.Status.PodIP
		if get(net.JoinHostPort(clusterIP, "80")) == nil && get(net.JoinHostPort(podIP, strconv.Itoa(int(direct)))) == nil {
			return podIP, clusterIP, cleanup, nil
		}
	}
	return "", "", cleanup, fmt.Errorf("the server pod did not answer through pod IP %q and ClusterIP %s within a minute", podIP, clusterIP)
}
