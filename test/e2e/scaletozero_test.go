package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// coldClient waits long enough for a revision to wake (once, no retry).
var coldClient = &http.Client{Timeout: time.Minute}

// sleepyServer answers GET after 100 ms; it listens only after
// startDelay seconds (a model that takes that long to load).
func sleepyServer(name string, startDelay int, spec string) string {
	return fmt.Sprintf(`apiVersion: ml.skiff.dev/v1alpha1
kind: ModelService
metadata: {name: %s}
spec:
  predictor:
%s    containers:
    - name: server
      image: python:3
      command:
      - /usr/bin/python3
      - -c
      - |
        import http.server, time
        time.sleep(%d)
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(0.1)
                self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
            def log_message(self, *a): pass
        http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()
      ports: [{containerPort: 8080}]
`, name, spec, startDelay)
}

// replicas is a revision Deployment's spec.replicas.
func (in *instance) replicas(t *testing.T, deployment string) int {
	t.Helper()
	n, err := strconv.Atoi(in.jsonpath("get", "deployment", deployment, "-o", "jsonpath={.spec.replicas}"))
	if err != nil {
		t.Fatalf("replicas of %s: %v", deployment, err)
	}
	return n
}

// waitZero waits until a ModelService's revision has no pod left.
func (in *instance) waitZero(t *testing.T, ms string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, ms+" scaled to zero", func() error {
		pods := in.jsonpath("get", "pods", "-l", "ml.skiff.dev/modelservice="+ms, "-o", "jsonpath={.items[*].metadata.name}")
		summary := in.jsonpath("get", "modelservice", ms, "-o", "jsonpath={.status.replicaSummary}")
		if pods != "" || summary != "0 (scaled to zero)" {
			return fmt.Errorf("pods %q, replicas %q", pods, summary)
		}
		return nil
	})
}

// load runs clients that send GETs to url one after another until ctx
// ends (at most 2 minutes), and counts the answers by status.
func load(ctx context.Context, url string, clients int) map[int]int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				code := 0
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if res, err := coldClient.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					code = res.StatusCode
				} else if ctx.Err() != nil {
					return
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes
}

// TestRequestAutoscaling: a native model at minReplicas 0 goes to zero
// and is woken by the next request (and by a burst), which the gateway
// holds; a revision on concurrency scales up under load and back down;
// one whose pod is still loading is not scaled to zero.
func TestRequestAutoscaling(t *testing.T) {
	models := t.TempDir()
	want := trainModels(t, models)
	in := newInstance(t)
	in.up("--write-kubeconfig=false")

	t.Run("scale to zero and back", func(t *testing.T) {
		in.apply(t, modelService("idle", "xgboost", "file://"+models+"/xgb-v1", "    minReplicas: 0\n    autoscaling: {scaleToZeroGracePeriod: 3s}\n"))
		base := in.msURL(t, "idle")
		in.waitZero(t, "idle", time.Minute)
		table := in.mustKubectl("get", "modelservice", "idle")
		if !strings.Contains(table, "0 (scaled to zero)") {
			t.Errorf("kubectl get modelservice does not say it is at zero:\n%s", table)
		}
		in.waitEvent(t, "name=idle", "ScaledToZero", "no request for")

		// One request from the host: answered, right, no retry.
		start := time.Now()
		body := v2Body(want.Rows)
		res, err := coldClient.Post(base+"/v2/models/idle/infer", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("the request that wakes the model: %v", err)
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("the request that wakes the model: %s %s", res.Status, data)
		}
		t.Logf("cold start answered in %s", time.Since(start).Round(time.Millisecond))
		got, err := inferREST(base, "idle", want.Rows)
		if err == nil {
			err = sameNumbers(got, want.XGBv1)
		}
		if err != nil {
			t.Errorf("predictions after the wake: %v", err)
		}
		in.waitEvent(t, "name=idle", "Woken", "a request is held at the gateway")
		if w := in.jsonpath("get", "modelservice", "idle", "-o", "jsonpath={.status.revisions[0].autoscaling.wakeReason}"); w != "a request is held at the gateway" {
			t.Errorf("status.revisions[0].autoscaling.wakeReason %q", w)
		}

		// A burst of 50 at zero: every request answered.
		in.waitZero(t, "idle", time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() {
				got, err := inferREST2(base, "idle", want.Rows)
				if err == nil {
					err = sameNumbers(got, want.XGBv1)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				failed++
				t.Log(err)
			}
		}
		if failed > 0 {
			t.Errorf("%d of a burst of 50 requests at zero failed", failed)
		}
		metrics := in.gatewayMetrics(t)
		for _, series := range []string{`skiff_gateway_cold_start_duration_seconds_count{backend="default/idle-00001:80"}`, `skiff_gateway_held_requests_total{backend="default/idle-00001:80",outcome="proxied"}`} {
			if !strings.Contains(metrics, series) {
				t.Errorf("gateway metrics lack %s", series)
			}
		}
	})

	t.Run("concurrency scales up under load and down after", func(t *testing.T) {
		in.apply(t, sleepyServer("busy", 0, "    maxReplicas: 4\n    scaleMetric: concurrency\n    scaleTarget: 2\n    autoscaling: {window: 6s}\n"))
		base := in.msURL(t, "busy")
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan map[int]int)
		go func() { done <- load(ctx, base+"/", 8) }()
		eventually(t, time.Minute, "busy scaled to 3 replicas or more", func() error {
			if n := in.replicas(t, "busy-00001"); n < 3 {
				return fmt.Errorf("%d replicas", n)
			}
			return nil
		})
		stop()
		if codes := <-done; len(codes) != 1 || codes[http.StatusOK] == 0 {
			t.Errorf("answers under load: %v, want only 200s", codes)
		}
		in.waitEvent(t, "name=busy", "Rescaled", "concurrency")
		eventually(t, time.Minute, "busy back to 1 replica", func() error {
			if n := in.replicas(t, "busy-00001"); n != 1 {
				return fmt.Errorf("%d replicas", n)
			}
			return nil
		})
	})

	t.Run("a revision still loading is not scaled to zero", func(t *testing.T) {
		in.apply(t, sleepyServer("slow", 8, "    minReplicas: 0\n    autoscaling: {scaleToZeroGracePeriod: 1s}\n"))
		eventually(t, 30*time.Second, "slow's pod started", func() error {
			if phase := in.jsonpath("get", "pods", "-l", "ml.skiff.dev/modelservice=slow", "-o", "jsonpath={.items[0].status.phase}"); phase != "Running" {
				return fmt.Errorf("phase %q", phase)
			}
			return nil
		})
		pod := in.jsonpath("get", "pods", "-l", "ml.skiff.dev/modelservice=slow", "-o", "jsonpath={.items[0].metadata.uid}")
		// Past its grace period several times over, still loading.
		time.Sleep(5 * time.Second)
		if n := in.replicas(t, "slow-00001"); n != 1 {
			t.Fatalf("a revision whose pod is loading was scaled to %d", n)
		}
		in.mustKubectl("wait", "modelservice/slow", "--for=condition=Ready", "--timeout=1m")
		if uid := in.jsonpath("get", "pods", "-l", "ml.skiff.dev/modelservice=slow", "-o", "jsonpath={.items[0].metadata.uid}"); uid != pod {
			t.Errorf("the loading pod %s was replaced by %s", pod, uid)
		}
		in.waitZero(t, "slow", time.Minute)
	})
}

// inferREST2 is inferREST with a client that waits for a cold start.
func inferREST2(base, name string, rows [][]float64) ([]float64, error) {
	res, err := coldClient.Post(base+"/v2/models/"+name+"/infer", "application/json", strings.NewReader(v2Body(rows)))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s: %s", res.Status, data)
	}
	return parseV2(data)
}

// gatewayMetrics is the gateway's Prometheus text.
func (in *instance) gatewayMetrics(t *testing.T) string {
	t.Helper()
	res, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", in.gwMetrics))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return string(data)
}
