// Command gateway measures skiff's gateway data plane against calling
// the backend directly, in one run with one client: added latency (p50,
// p99) and the throughput ratio at 1 and 8 connections; and the time to
// translate and load a routing table of 1,000 HTTPRoutes.
//
//	go run ./bench/gateway [-d 3s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway"
	"github.com/skiff-dev/skiff/internal/gateway/dataplane"
)

// answer is an Open Inference Protocol response of the size a model
// server sends for one row.
const answer = `{"model_name":"housing","model_version":"1","outputs":[{"name":"predict","datatype":"FP32","shape":[1],"data":[1.0874555]}]}`

const request = `{"inputs":[{"name":"input-0","datatype":"FP64","shape":[1,3],"data":[1,2,3]}]}`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	d := flag.Duration("d", 3*time.Second, "how long each measurement sends requests")
	skiff := flag.String("skiff", os.Getenv("SKIFF_BIN"), "a skiff binary: the backend is its model server (serve-model of an XGBoost model), as a pod would be; empty: a Go handler with a fixed answer (the proxy's cost alone)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the run (client, gateway and a Go backend share the process)")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	backend, stop, err := startBackend(*skiff)
	if err != nil {
		return err
	}
	defer stop()
	gw := dataplane.New(logr.Discard())
	defer gw.Close(context.Background())
	gwAddr, err := freeAddress()
	if err != nil {
		return err
	}
	errs := gw.Apply(dataplane.Config{Listeners: []dataplane.Listener{{Address: gwAddr, Routes: []dataplane.Route{{
		Name: "bench", Rules: []dataplane.Rule{{
			Matches:  []dataplane.Match{{PathType: dataplane.PathPrefix, Path: "/serving/default/housing"}},
			Filters:  dataplane.Filters{Rewrite: &dataplane.Rewrite{PrefixPath: ptr.To("/")}},
			Backends: []dataplane.Backend{{Name: "housing", Weight: 1, Endpoints: []string{backend}}},
		}},
	}}}}})
	if len(errs) > 0 {
		return fmt.Errorf("gateway: %v", errs)
	}
	fmt.Println("| connections | direct p50 / p99 (ms) | gateway p50 / p99 (ms) | added p50 / p99 (ms) | direct req/s | gateway req/s | ratio |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, conns := range []int{1, 8} {
		// Alternate, so drift on a noisy machine hits both alike.
		var direct, viaGW result
		for range 2 {
			direct = direct.merge(load("http://"+backend+"/v2/models/housing/infer", conns, *d/2))
			viaGW = viaGW.merge(load("http://"+gwAddr+"/serving/default/housing/v2/models/housing/infer", conns, *d/2))
		}
		if direct.failed+viaGW.failed > 0 {
			return fmt.Errorf("%d direct and %d gateway requests failed", direct.failed, viaGW.failed)
		}
		fmt.Printf("| %d | %.3f / %.3f | %.3f / %.3f | %+.3f / %+.3f | %.0f | %.0f | %.2f |\n", conns,
			direct.pct(50), direct.pct(99), viaGW.pct(50), viaGW.pct(99),
			viaGW.pct(50)-direct.pct(50), viaGW.pct(99)-direct.pct(99),
			direct.rate(), viaGW.rate(), viaGW.rate()/direct.rate())
	}
	return rebuild()
}

// startBackend starts skiff's model server, or with no binary a handler
// that answers every request with a fixed inference answer.
func startBackend(skiff string) (string, func(), error) {
	if skiff == "" {
		addr, err := serveBackend()
		return addr, func() {}, err
	}
	addr, err := freeAddress()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(skiff, "serve-model", "--model-path", "internal/modelserver/testdata/xgb-reg.json", "--model-name", "housing",
		"--model-format", "xgboost", "--http-address", addr, "--grpc-address", "")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/v2/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return addr, stop, nil
			}
		}
	}
	stop()
	return "", nil, fmt.Errorf("serve-model on %s did not get ready", addr)
}

// serveBackend answers every request with a fixed inference answer.
func serveBackend() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	return ln.Addr().String(), nil
}

func freeAddress() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type result struct {
	latencies []time.Duration
	elapsed   time.Duration
	failed    int
}

func (r result) merge(o result) result {
	return result{latencies: append(r.latencies, o.latencies...), elapsed: r.elapsed + o.elapsed, failed: r.failed + o.failed}
}

func (r result) pct(p int) float64 {
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Microseconds()) / 1000
}

func (r result) rate() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

// load sends requests over conns keep-alive connections for d.
func load(url string, conns int, d time.Duration) result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	var mu sync.Mutex
	var out result
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			failed := 0
			for time.Since(start) < d {
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", strings.NewReader(request))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			out.latencies = append(out.latencies, mine...)
			out.failed += failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}

// rebuild times translating 1,000 HTTPRoutes (each to its own Service
// with two endpoints) and loading the result into a running gateway.
func rebuild() error {
	const n = 1000
	in := &gateway.Input{
		GatewayClasses: []gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "skiff"}, Spec: gwv1.GatewayClassSpec{ControllerName: gateway.ControllerName}}},
		Gateways: []gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "gw"}, Spec: gwv1.GatewaySpec{GatewayClassName: "skiff",
			Listeners: []gwv1.Listener{{Name: "http", Port: 0, Protocol: gwv1.HTTPProtocolType, AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr.To(gwv1.NamespacesFromAll)}}}}}}},
		BindAddress: func(*gwv1.Gateway) string { return "127.0.0.1" },
	}
	for i := range n {
		name := fmt.Sprintf("m%04d", i)
		in.HTTPRoutes = append(in.HTTPRoutes, gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Namespace: ptr.To[gwv1.Namespace]("infra"), Name: "gw"}}},
			Rules: []gwv1.HTTPRouteRule{{
				Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To("/serving/apps/" + name)}}},
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr.To[gwv1.PortNumber](80)}}}},
			}},
		}})
		in.Services = append(in.Services, corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
		in.EndpointSlices = append(in.EndpointSlices, discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			Ports:      []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
			Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.42.%d.%d", i/250, i%250+1)}}, {Addresses: []string{fmt.Sprintf("10.42.%d.%d", 4+i/250, i%250+1)}}},
		})
	}
	gw := dataplane.New(logr.Discard())
	defer gw.Close(context.Background())
	var times []time.Duration
	for range 10 {
		t0 := time.Now()
		out := gateway.Translate(in)
		if errs := gw.Apply(out.Config); len(errs) > 0 {
			return fmt.Errorf("apply: %v", errs)
		}
		times = append(times, time.Since(t0))
		if got := len(out.Config.Listeners[0].Routes); got != n {
			return fmt.Errorf("%d routes in the table, want %d", got, n)
		}
	}
	slices.Sort(times)
	fmt.Printf("\n| routing table of %d HTTPRoutes: translate + load, 10 runs | median %.1f ms | max %.1f ms |\n", n,
		float64(times[len(times)/2].Microseconds())/1000, float64(times[len(times)-1].Microseconds())/1000)
	return nil
}
