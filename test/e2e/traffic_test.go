package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// versionCounts sends n requests one after another to a ModelService's URL
// and counts the model_version (the revision number) of the answers.
func versionCounts(t *testing.T, base, name string, rows [][]float64, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		answer, err := post(base+"/v2/models/"+name+"/infer", v2Body(rows))
		if err != nil {
			t.Fatalf("request through the gateway: %v: %s", err, answer)
		}
		var got struct {
			ModelVersion string `json:"model_version"`
		}
		if err := json.Unmarshal([]byte(answer), &got); err != nil {
			t.Fatalf("answer %s: %v", answer, err)
		}
		counts[got.ModelVersion]++
	}
	return counts
}

// onlyRevision waits until 50 requests in a row are answered by revision
// n: the route has changed when status says so, and the gateway follows
// within moments.
func onlyRevision(t *testing.T, base string, rows [][]float64, n string) {
	t.Helper()
	eventually(t, 10*time.Second, "only revision "+n+" answers", func() error {
		if counts := versionCounts(t, base, "housing", rows, 50); counts[n] != 50 {
			return fmt.Errorf("answers by revision: %v", counts)
		}
		return nil
	})
}

// TestModelServiceTraffic drives canary, promote, abort, shadow, a
// progressive rollout rolled back by its analysis, blue/green and A/B
// variants through skiff's gateway from the host, with a request loop
// that must never fail.
func TestModelServiceTraffic(t *testing.T) {
	models := t.TempDir()
	want := trainModels(t, models)
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	in.apply(t, modelService("housing", "xgboost", "file://"+models+"/xgb-v1", ""))
	base := in.msURL(t, "housing")
	if wantURL := fmt.Sprintf("http://127.0.0.1:%d/serving/default/housing", in.gatewayPort); base != wantURL {
		t.Fatalf("status.url %q, want the gateway's %q", base, wantURL)
	}
	loop := startPosts(base+"/v2/models/housing/infer", v2Body(want.Rows))
	patch := func(spec string) {
		in.mustKubectl("patch", "modelservice", "housing", "--type=merge", "-p", `{"spec":{"predictor":`+spec+`}}`)
	}
	traffic := func(summary string) {
		in.waitJSONPath(t, 90*time.Second, summary, "get", "modelservice", "housing", "-o", "jsonpath={.status.trafficSummary}")
	}

	t.Run("canary at 20% gets 20% of requests", func(t *testing.T) {
		patch(`{"canaryTrafficPercent":20,"model":{"storageUri":"file://` + models + `/xgb-v2"}}`)
		traffic("housing-00002=20%,housing-00001=80%")
		if got := in.readyCondition("housing"); !strings.HasPrefix(got, "True Canary: canary at 20%") {
			t.Errorf("Ready during the canary: %s", got)
		}
		counts := versionCounts(t, base, "housing", want.Rows[:1], 1000)
		if c := counts["2"]; c < 140 || c > 260 || counts["1"]+c != 1000 {
			t.Errorf("of 1000 requests revision 2 answered %d and revision 1 %d; want 200 ± 60", c, counts["1"])
		}
	})

	t.Run("abort sends everything back to the stable revision", func(t *testing.T) {
		in.mustKubectl("wait", "modelservice/housing", "--for=condition=Ready")
		out, err := in.skiff("rollout", "abort", "housing", "--kubeconfig", in.kubeconfig())
		if err != nil {
			t.Fatalf("skiff rollout abort: %v\n%s", err, out)
		}
		traffic("housing-00001=100%,housing-00002=0%")
		onlyRevision(t, base, want.Rows[:1], "1")
	})

	t.Run("promote sends everything to the new revision", func(t *testing.T) {
		out, err := in.skiff("rollout", "promote", "housing", "--kubeconfig", in.kubeconfig())
		if err != nil {
			t.Fatalf("skiff rollout promote: %v\n%s", err, out)
		}
		traffic("housing-00002=100%")
		onlyRevision(t, base, want.Rows[:1], "2")
		if got := in.jsonpath("get", "modelservice", "housing", "-o", "jsonpath={.status.stableRevision}"); got != "housing-00002" {
			t.Errorf("stable revision after the promotion: %q", got)
		}
		in.waitJSONPath(t, 60*time.Second, "housing-00002", "get", "deployments", "-l", "ml.skiff.dev/modelservice=housing", "-o", "jsonpath={.items[*].metadata.name}")
	})

	t.Run("a shadow gets copies, callers get the stable answers", func(t *testing.T) {
		patch(`{"shadowTrafficPercent":100,"model":{"modelFormat":{"name":"sklearn"},"storageUri":"file://` + models + `/forest.json"}}`)
		traffic("housing-00002=100%,housing-00003=shadow 100%")
		if got := in.readyCondition("housing"); !strings.HasPrefix(got, "True Shadow") {
			t.Errorf("Ready with a shadow: %s", got)
		}
		mirrored := func() string {
			return in.gatewayMetric(t, `skiff_gateway_requests_total{backend="default/housing-00003:80",code="200",role="mirror",route="httproute/default/housing"}`)
		}
		before := mirrored()
		for range 50 {
			got, err := inferREST(base, "housing", want.Rows)
			if err == nil {
				err = sameNumbers(got, want.XGBv2)
			}
			if err != nil {
				t.Fatalf("a caller did not get the stable revision's answer: %v", err)
			}
		}
		eventually(t, 10*time.Second, "the shadow's request count rises by 50", func() error {
			if after := mirrored(); atoi(after)-atoi(before) < 50 {
				return fmt.Errorf("mirrored 200s went from %s to %s", before, after)
			}
			return nil
		})
		out, err := in.skiff("rollout", "abort", "housing", "--kubeconfig", in.kubeconfig())
		if err != nil {
			t.Fatalf("skiff rollout abort: %v\n%s", err, out)
		}
		traffic("housing-00002=100%,housing-00003=0%")
	})

	// Revisions 4 (slow), 5 (broken shadow), 6 (blue/green) and 7 (variant b) follow.
	rollouts(t, in, models, base, want)

	t.Run("gateway metrics count requests per revision", func(t *testing.T) {
		resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", in.gwMetrics))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics := string(data)
		for _, rev := range []string{"housing-00001", "housing-00002"} {
			if !strings.Contains(metrics, `skiff_gateway_requests_total{backend="default/`+rev+`:80",code="200",role="primary",route="httproute/default/housing"}`) {
				t.Errorf("no request count of %s in the gateway's metrics", rev)
			}
		}
	})

	sent, failures := loop.stop()
	if len(failures) > 0 || sent < 20 {
		t.Errorf("request loop through canary, abort and promote: %d of %d failed: %v", len(failures), sent, failures)
	}
}

// gatewayMetric is the value of one series on the gateway's metrics
// endpoint ("0" when it is not there).
func (in *instance) gatewayMetric(t *testing.T, series string) string {
	t.Helper()
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", in.gwMetrics))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "0"
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
