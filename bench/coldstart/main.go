// Command coldstart measures the request autoscaler on a running skiff
// up: the cold start of a native XGBoost ModelService at minReplicas 0
// (from a request sent at zero pods to its answer, N times), what the
// gateway's hold costs a request once the revision is warm (against the
// same model at minReplicas 1, alternating), and the time from a step of
// load (8 clients) to the replicas the concurrency autoscaler needs.
//
//	go run ./bench/coldstart -kubeconfig ~/.skiff/kubeconfig -model /srv/model.json -features 3
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/operator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

type bench struct {
	c        client.Client
	model    string
	features int
	hc       *http.Client
}

func run() error {
	n := flag.Int("n", 20, "cold starts to time")
	warm := flag.Int("warm", 2000, "warm requests to time per ModelService")
	steps := flag.Int("steps", 3, "load steps to time")
	modelFile := flag.String("model", "", "an XGBoost model file on the node")
	features := flag.Int("features", 3, "the model's number of features")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", flag.Lookup("kubeconfig").Value.String())
	if err != nil {
		return err
	}
	scheme, err := operator.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	b := &bench{c: c, model: *modelFile, features: *features, hc: &http.Client{Timeout: time.Minute}}
	ctx := context.Background()
	cold, err := b.coldStarts(ctx, *n)
	if err != nil {
		return err
	}
	zeroWarm, oneWarm, err := b.warmOverhead(ctx, *warm)
	if err != nil {
		return err
	}
	toWanted, toReady, err := b.loadSteps(ctx, *steps)
	if err != nil {
		return err
	}
	fmt.Printf("| measure | p50 | p99 | runs |\n|---|---|---|---|\n")
	fmt.Printf("| cold start: a request at zero pods to its answer | %s | %s | %d |\n", pct(cold, 50), pct(cold, 99), len(cold))
	fmt.Printf("| warm request, minReplicas 0 (held when at zero) | %s | %s | %d |\n", pct(zeroWarm, 50), pct(zeroWarm, 99), len(zeroWarm))
	fmt.Printf("| warm request, minReplicas 1 (never held) | %s | %s | %d |\n", pct(oneWarm, 50), pct(oneWarm, 99), len(oneWarm))
	fmt.Printf("| ratio warm p50, minReplicas 0 / 1 | %.2f | | |\n", float64(pct(zeroWarm, 50))/float64(pct(oneWarm, 50)))
	fmt.Printf("| load step (8 clients) to the replicas wanted (5) | %s | %s | %d |\n", pct(toWanted, 50), pct(toWanted, 100), len(toWanted))
	fmt.Printf("| load step (8 clients) to those replicas ready | %s | %s | %d |\n", pct(toReady, 50), pct(toReady, 100), len(toReady))
	return nil
}

// native is a ModelService of the model.
func (b *bench) native(name string, minReplicas int32) *mlv1.ModelService {
	return &mlv1.ModelService{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: mlv1.ModelServiceSpec{Predictor: mlv1.PredictorSpec{
			Model:       &mlv1.ModelSpec{ModelFormat: mlv1.ModelFormat{Name: "xgboost"}, StorageURI: "file://" + b.model},
			MinReplicas: ptr.To(minReplicas),
			Autoscaling: &mlv1.AutoscalingSpec{ScaleToZeroGracePeriod: &metav1.Duration{Duration: time.Second}},
		}},
	}
}

// coldStarts times n requests, each sent once the revision is at zero.
func (b *bench) coldStarts(ctx context.Context, n int) ([]time.Duration, error) {
	ms := b.native("bench-cold", 0)
	url, err := b.create(ctx, ms)
	if err != nil {
		return nil, err
	}
	defer b.delete(ctx, ms)
	var out []time.Duration
	for range n {
		if err := b.waitPods(ctx, ms.Name, 0); err != nil {
			return nil, err
		}
		time.Sleep(200 * time.Millisecond) // the endpoints are gone too
		start := time.Now()
		if err := b.infer(url, ms.Name); err != nil {
			return nil, fmt.Errorf("cold request: %w", err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// warmOverhead times requests to a warm revision at minReplicas 0 and at
// 1, in alternating blocks.
func (b *bench) warmOverhead(ctx context.Context, n int) (zero, one []time.Duration, err error) {
	z, o := b.native("bench-warm0", 0), b.native("bench-warm1", 1)
	z.Spec.Predictor.Autoscaling.ScaleToZeroGracePeriod.Duration = time.Hour
	urls := map[string]string{}
	for _, ms := range []*mlv1.ModelService{z, o} {
		u, err := b.create(ctx, ms)
		if err != nil {
			return nil, nil, err
		}
		defer b.delete(ctx, ms)
		urls[ms.Name] = u
	}
	for _, name := range []string{z.Name, o.Name} {
		for range 200 { // connections and caches warm
			_ = b.infer(urls[name], name)
		}
	}
	for range 10 {
		for _, ms := range []*mlv1.ModelService{z, o} {
			for range n / 10 {
				start := time.Now()
				if err := b.infer(urls[ms.Name], ms.Name); err != nil {
					return nil, nil, err
				}
				if ms == z {
					zero = append(zero, time.Since(start))
				} else {
					one = append(one, time.Since(start))
				}
			}
		}
	}
	return zero, one, nil
}

// loadSteps starts 8 clients against a server that answers in 100 ms and
// times the concurrency autoscaler to 5 replicas wanted and ready.
func (b *bench) loadSteps(ctx context.Context, steps int) (wanted, ready []time.Duration, err error) {
	ms := &mlv1.ModelService{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bench-step"},
		Spec: mlv1.ModelServiceSpec{Predictor: mlv1.PredictorSpec{
			MinReplicas: ptr.To[int32](1), MaxReplicas: 5,
			ScaleMetric: mlv1.ScaleMetricConcurrency, ScaleTarget: ptr.To[int32](2),
			Autoscaling: &mlv1.AutoscalingSpec{Window: &metav1.Duration{Duration: 6 * time.Second}},
			Containers: []corev1.Container{{
				Name: "server", Image: "python:3", Command: []string{"/usr/bin/python3", "-c", sleepyServer},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			}},
		}},
	}
	url, err := b.create(ctx, ms)
	if err != nil {
		return nil, nil, err
	}
	defer b.delete(ctx, ms)
	for range steps {
		if err := b.waitReplicas(ctx, "bench-step-00001", func(d *appsv1.Deployment) bool { return *d.Spec.Replicas == 1 && d.Status.Replicas == 1 }); err != nil {
			return nil, nil, err
		}
		lctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for lctx.Err() == nil {
					req, _ := http.NewRequestWithContext(lctx, http.MethodGet, url+"/", nil)
					if res, err := b.hc.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				}
			})
		}
		start := time.Now()
		err := b.waitReplicas(ctx, "bench-step-00001", func(d *appsv1.Deployment) bool { return *d.Spec.Replicas >= 5 })
		wanted = append(wanted, time.Since(start))
		if err == nil {
			err = b.waitReplicas(ctx, "bench-step-00001", func(d *appsv1.Deployment) bool { return d.Status.ReadyReplicas >= 5 })
			ready = append(ready, time.Since(start))
		}
		stop()
		wg.Wait()
		if err != nil {
			return nil, nil, err
		}
	}
	return wanted, ready, nil
}

const sleepyServer = `import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.1)
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()`

// create makes ms and waits until it answers at its URL.
func (b *bench) create(ctx context.Context, ms *mlv1.ModelService) (string, error) {
	if err := b.c.Create(ctx, ms); err != nil {
		return "", err
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var got mlv1.ModelService
		if b.c.Get(ctx, client.ObjectKeyFromObject(ms), &got) != nil || got.Status.URL == "" {
			continue
		}
		for _, c := range got.Status.Conditions {
			if c.Type == mlv1.ConditionReady && c.Status == metav1.ConditionTrue {
				return got.Status.URL, nil
			}
		}
	}
	return "", fmt.Errorf("modelservice %s not Ready in 2 minutes", ms.Name)
}

func (b *bench) delete(ctx context.Context, ms *mlv1.ModelService) {
	_ = b.c.Delete(ctx, ms, client.PropagationPolicy(metav1.DeletePropagationForeground))
	_ = b.waitPods(ctx, ms.Name, 0)
}

// waitPods waits until the ModelService has n pods.
func (b *bench) waitPods(ctx context.Context, name string, n int) error {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var list corev1.PodList
		if b.c.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"ml.skiff.dev/modelservice": name}) == nil && len(list.Items) == n {
			return nil
		}
	}
	return fmt.Errorf("modelservice %s: not %d pods in 2 minutes", name, n)
}

func (b *bench) waitReplicas(ctx context.Context, name string, ok func(*appsv1.Deployment) bool) error {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var d appsv1.Deployment
		if b.c.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, &d) == nil && ok(&d) {
			return nil
		}
	}
	return fmt.Errorf("deployment %s: not as wanted in 2 minutes", name)
}

// infer sends one v2 request and wants a 200.
func (b *bench) infer(url, name string) error {
	zeros := strings.TrimSuffix(strings.Repeat("0,", b.features), ",")
	body := fmt.Sprintf(`{"inputs":[{"name":"input-0","shape":[1,%d],"datatype":"FP64","data":[%s]}]}`, b.features, zeros)
	res, err := b.hc.Post(url+"/v2/models/"+name+"/infer", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", res.Status, data)
	}
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(len(s)-1, (len(s)*p)/100)
	return s[i].Round(10 * time.Microsecond)
}
