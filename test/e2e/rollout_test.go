package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowServer is a model server that answers the Open Inference Protocol
// correctly but 300 ms late: a canary the analysis must roll back.
const slowServer = `import json, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        time.sleep(0.3)
        body = json.dumps({"model_name": "housing", "model_version": "slow", "outputs": [{"name": "predict", "datatype": "FP64", "shape": [1], "data": [0.0]}]}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(('', 8080), H).serve_forever()
`

// brokenServer answers every request 500, as a model server with a bug.
const brokenServer = `from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        self.send_response(500)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(('', 8080), H).serve_forever()
`

// rollouts are TestModelServiceTraffic's rollout cases, on the same
// skiff and under the same request loop: it starts with revision 2
// stable and revision 3 an aborted shadow; revisions 4 (slow canary), 5
// (broken shadow), 6 (blue/green) and 7 (variant b) follow.
func rollouts(t *testing.T, in *instance, models, base string, want oracle) {
	patch := func(body string) { in.mustKubectl("patch", "modelservice", "housing", "--type=merge", "-p", body) }
	traffic := func(summary string) {
		in.waitJSONPath(t, 90*time.Second, summary, "get", "modelservice", "housing", "-o", "jsonpath={.status.trafficSummary}")
	}

	t.Run("a slow canary is rolled back by its analysis", func(t *testing.T) {
		container, _ := json.Marshal(map[string]any{"name": "slow", "image": "python:3.11", "command": []string{"/usr/bin/python3", "-c", slowServer}})
		patch(`{"spec":{"predictor":{"canaryTrafficPercent":null,"model":null,"containers":[` + string(container) + `]},` +
			`"rollout":{"steps":[{"setWeight":50,"pause":"5m"}],"analysis":{"interval":"4s","minRequests":10,"maxErrorRatePercent":5,"maxLatencyP99Increase":"100ms"}}}}`)
		traffic("housing-00004=50%,housing-00002=50%")
		// More requests than the loop's, so the window fills sooner.
		stop := sendUntil(base+"/v2/models/housing/infer", v2Body(want.Rows[:1]))
		in.waitJSONPath(t, 60*time.Second, "RolledBack", "get", "modelservice", "housing", "-o", "jsonpath={.status.rollout.phase}")
		if failed := stop(); failed > 0 {
			t.Errorf("%d requests failed while the slow canary served", failed)
		}
		traffic("housing-00002=100%,housing-00004=0%")
		got := in.readyCondition("housing")
		if !strings.HasPrefix(got, "False RolledBack: housing-00004 rolled back at 50%: p99 latency: canary housing-00004 ") || !strings.Contains(got, "more than 100ms above") {
			t.Errorf("Ready after the rollback: %s", got)
		}
		onlyRevision(t, base, want.Rows[:1], "2")
		describe := in.mustKubectl("describe", "modelservice", "housing")
		for _, s := range []string{"RolledBack", "Last Analysis", "History"} {
			if !strings.Contains(describe, s) {
				t.Errorf("kubectl describe has no %q:\n%s", s, describe)
			}
		}
		in.waitJSONPath(t, 30*time.Second, "RolledBack", "get", "events", "--field-selector", "reason=RolledBack", "-o", "jsonpath={.items[0].reason}")
	})

	t.Run("a broken shadow never reaches a caller", func(t *testing.T) {
		container, _ := json.Marshal(map[string]any{"name": "broken", "image": "python:3.11", "command": []string{"/usr/bin/python3", "-c", brokenServer}})
		patch(`{"spec":{"rollout":null,"predictor":{"shadowTrafficPercent":100,"containers":[` + string(container) + `]}}}`)
		traffic("housing-00002=100%,housing-00005=shadow 100%")
		failed := func() int {
			return atoi(in.gatewayMetric(t, `skiff_gateway_requests_total{backend="default/housing-00005:80",code="500",role="mirror",route="httproute/default/housing"}`))
		}
		before := failed()
		for range 30 {
			got, err := inferREST(base, "housing", want.Rows)
			if err == nil {
				err = sameNumbers(got, want.XGBv2)
			}
			if err != nil {
				t.Fatalf("a caller saw the broken shadow: %v", err)
			}
		}
		eventually(t, 10*time.Second, "the shadow's 500s are counted", func() error {
			if after := failed(); after-before < 30 {
				return fmt.Errorf("mirrored 500s went from %d to %d", before, after)
			}
			return nil
		})
		if out, err := in.skiff("rollout", "abort", "housing", "--kubeconfig", in.kubeconfig()); err != nil {
			t.Fatalf("skiff rollout abort: %v\n%s", err, out)
		}
		traffic("housing-00002=100%,housing-00005=0%")
	})

	t.Run("blue/green switches at once and keeps the old revision", func(t *testing.T) {
		seen := recordVersions(base, want.Rows[:1])
		patch(`{"spec":{"rollout":{"strategy":"BlueGreen","steps":null,"analysis":null},"predictor":{"canaryTrafficPercent":null,"containers":null,"model":{"modelFormat":{"name":"xgboost"},"storageUri":"file://` + models + `/xgb-v1"}}}}`)
		traffic("housing-00006=100%,housing-00002=0%")
		onlyRevision(t, base, want.Rows[:1], "6")
		versions := seen()
		if err := switchedOnce(versions, "2", "6"); err != nil {
			t.Errorf("answers during the switch: %v", err)
		}
		if got := in.jsonpath("get", "deployment", "housing-00002", "-o", "jsonpath={.spec.replicas}"); got != "1" {
			t.Errorf("the old revision runs %s replicas after the switch, want its minimum 1", got)
		}
		if got := in.readyCondition("housing"); !strings.HasPrefix(got, "True Switched") {
			t.Errorf("Ready after the switch: %s", got)
		}
		if out, err := in.skiff("rollout", "promote", "housing", "--kubeconfig", in.kubeconfig()); err != nil {
			t.Fatalf("skiff rollout promote: %v\n%s", err, out)
		}
		traffic("housing-00006=100%")
		in.waitJSONPath(t, 60*time.Second, "housing-00006", "get", "deployments", "-l", "ml.skiff.dev/modelservice=housing", "-o", "jsonpath={.items[*].metadata.name}")
	})

	t.Run("A/B variants are pinned by header and cookie", func(t *testing.T) {
		patch(`{"spec":{"rollout":null,"traffic":[{"tag":"a","revisionName":"housing-00006","percent":50},{"tag":"b","latestRevision":true,"percent":50}],` +
			`"predictor":{"model":{"storageUri":"file://` + models + `/xgb-v2"}}}}`)
		traffic("a:housing-00006=50%,b:housing-00007=50%")
		url := base + "/v2/models/housing/infer"
		for _, c := range []struct{ header, value, want string }{
			{"x-variant", "b", "7"}, {"x-variant", "a", "6"}, {"Cookie", "theme=dark; x-variant=b", "7"}, {"Cookie", "x-variant=a", "6"},
		} {
			for range 30 {
				got, _, err := postVersion(url, v2Body(want.Rows[:1]), c.header, c.value)
				if err != nil || got != c.want {
					t.Fatalf("%s: %s answered by revision %q (%v), want %s", c.header, c.value, got, err, c.want)
				}
			}
		}
		// A caller without a variant gets one, and keeps it.
		first, cookie, err := postVersion(url, v2Body(want.Rows[:1]), "", "")
		if err != nil || !strings.HasPrefix(cookie, "x-variant=") {
			t.Fatalf("first answer %q, cookie %q, %v", first, cookie, err)
		}
		for range 30 {
			got, _, err := postVersion(url, v2Body(want.Rows[:1]), "Cookie", strings.SplitN(cookie, ";", 2)[0])
			if err != nil || got != first {
				t.Fatalf("with the cookie %q the answer came from revision %q (%v), the first from %s", cookie, got, err, first)
			}
		}
		counts := versionCounts(t, base, "housing", want.Rows[:1], 200)
		if counts["6"] < 60 || counts["7"] < 60 {
			t.Errorf("200 requests without a variant split %v, want about half each", counts)
		}
		for _, rev := range []string{"housing-00006", "housing-00007"} {
			if n := atoi(in.gatewayMetric(t, `skiff_gateway_requests_total{backend="default/`+rev+`:80",code="200",role="primary",route="httproute/default/housing"}`)); n < 60 {
				t.Errorf("the gateway counted %d answers of variant %s", n, rev)
			}
		}
	})
}

// postVersion sends one request with a header (if any) and returns the
// answer's model_version and the Set-Cookie it carried.
func postVersion(url, body, header, value string) (string, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var got struct {
		ModelVersion string `json:"model_version"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("status %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	return got.ModelVersion, resp.Header.Get("Set-Cookie"), err
}

// sendUntil sends requests one after another (at most 2 minutes) until
// the returned stop is called, which says how many failed.
func sendUntil(url, body string) func() int {
	failed := 0
	stop := untilStopped(func() {
		if _, err := post(url, body); err != nil {
			failed++
		}
	})
	return func() int {
		stop()
		return failed
	}
}

// recordVersions sends requests one after another (at most 2 minutes)
// and returns a function that stops and gives the versions that answered,
// in order ("error" for a failure).
func recordVersions(base string, rows [][]float64) func() []string {
	var seen []string
	stop := untilStopped(func() {
		v, _, err := postVersion(base+"/v2/models/housing/infer", v2Body(rows), "", "")
		if err != nil {
			v = "error"
		}
		seen = append(seen, v)
		time.Sleep(20 * time.Millisecond)
	})
	return func() []string {
		stop()
		return seen
	}
}

// untilStopped calls each again and again in a goroutine, for 2 minutes
// at most, until the returned stop is called (which waits for it).
func untilStopped(each func()) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
			select {
			case <-done:
				return
			default:
			}
			each()
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// switchedOnce checks that answers came from old, then from new, with no
// mix: a switch at once.
func switchedOnce(versions []string, old, new string) error {
	switched := false
	for i, v := range versions {
		switch {
		case v == new:
			switched = true
		case v == old && !switched:
		default:
			return fmt.Errorf("answer %d of %d was from %q (after the switch: %v)", i+1, len(versions), v, switched)
		}
	}
	if !switched {
		return fmt.Errorf("no answer of %d came from %s", len(versions), new)
	}
	return nil
}
