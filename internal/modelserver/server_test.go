package modelserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testServer is a model server on loopback ports over a temporary repository.
type testServer struct {
	t    *testing.T
	dir  string
	srv  *Server
	base string
}

// repo lays out models: name -> (model.yaml text, testdata file of version 1).
func newTestServer(t *testing.T, models map[string][2]string, opts Options) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{t: t, dir: dir}
	for name, m := range models {
		ts.write(filepath.Join(name, "model.yaml"), []byte(m[0]))
		ts.putVersion(name, "1", m[1])
	}
	opts.Repository = dir
	opts.HTTPAddress, opts.GRPCAddress = "127.0.0.1:0", "127.0.0.1:0"
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Hour // tests scan when they change the folder
	}
	srv, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stop: %v", err)
		}
	})
	ts.srv, ts.base = srv, "http://"+srv.HTTPAddr()
	return ts
}

func (ts *testServer) write(rel string, data []byte) {
	path := filepath.Join(ts.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		ts.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		ts.t.Fatal(err)
	}
}

func (ts *testServer) putVersion(model, version, testdata string) {
	data, err := os.ReadFile(filepath.Join("testdata", testdata))
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.write(filepath.Join(model, version, "model.json"), data)
}

// call sends a request and returns the status and body.
func (ts *testServer) call(method, path, body string) (int, string) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.base+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

var testModels = map[string][2]string{
	"boost":  {"format: xgboost\nfeatures: [a, b, c]\n", "xgb-reg.json"},
	"tree":   {"format: sklearn\n", "sk-tree.json"},
	"labels": {"format: sklearn\nfeatures: [x, y, z]\nbatching: {maxBatchSize: 8, maxDelay: 1ms}\n", "sk-labels.json"},
}

func TestRESTAnswers(t *testing.T) {
	ts := newTestServer(t, testModels, Options{DefaultModel: "boost"})
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string // a substring of the body
	}{
		{"live", "GET", "/v2/health/live", "", 200, `{"live":true}`},
		{"ready", "GET", "/v2/health/ready", "", 200, `{"ready":true}`},
		{"server metadata", "GET", "/v2", "", 200, `"name":"skiff"`},
		{"model metadata", "GET", "/v2/models/labels", "", 200, `"outputs":[{"name":"predict","datatype":"BYTES","shape":[-1]},{"name":"predict_proba","datatype":"FP64","shape":[-1,3]}]`},
		{"version metadata", "GET", "/v2/models/boost/versions/1", "", 200, `"versions":["1"]`},
		{"model ready", "GET", "/v2/models/tree/ready", "", 200, `"ready":true`},
		{"v1 ready", "GET", "/v1/models/tree", "", 200, `"ready":true`},
		{"infer matrix", "POST", "/v2/models/boost/infer", `{"id":"7","inputs":[{"name":"input-0","shape":[2,3],"datatype":"FP32","data":[[0.1,0.2,0.3],[0.9,null,0.1]]}]}`, 200, `"id":"7","outputs":[{"name":"predict","datatype":"FP32","shape":[2],"data":[`},
		{"infer named", "POST", "/v2/models/boost/infer", `{"inputs":[{"name":"c","shape":[1],"datatype":"FP64","data":[0.3]},{"name":"a","shape":[1],"datatype":"INT32","data":[0]},{"name":"b","shape":[1,1],"datatype":"FP64","data":[[0.2]]}]}`, 200, `"shape":[1]`},
		{"infer labels", "POST", "/v2/models/labels/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP64","data":[0.95,0.5,0.5]}],"outputs":[{"name":"predict"}]}`, 200, `"datatype":"BYTES","shape":[1],"data":["high"]`},
		{"infer version", "POST", "/v2/models/tree/versions/1/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP64","data":[0.1,0.2,0.3]}]}`, 200, `"model_version":"1"`},
		{"v1 predict", "POST", "/v1/models/labels:predict", `{"instances":[[0.05,0.5,0.5],{"x":0.95,"y":0.5,"z":0.5}]}`, 200, `{"predictions":["low","high"]}`},
		{"simple predict", "POST", "/predict", `{"a":0.1,"b":0.2,"c":0.3}`, 200, `{"prediction":`},
		{"simple predict rows", "POST", "/predict", `[{"a":0.1,"b":0.2,"c":0.3},{"a":1,"b":2,"c":3}]`, 200, `{"predictions":[`},

		{"wrong shape", "POST", "/v2/models/boost/infer", `{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `shape [1 4], but the model takes rows of 3 features`},
		{"shape and data differ", "POST", "/v2/models/boost/infer", `{"inputs":[{"name":"input-0","shape":[2,3],"datatype":"FP32","data":[1,2,3]}]}`, 400, `shape [2 3] (6 values) but its data holds 3`},
		{"wrong datatype", "POST", "/v2/models/boost/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP8","data":[1,2,3]}]}`, 400, `datatype "FP8", which the Open Inference Protocol does not define`},
		{"strings as numbers", "POST", "/v2/models/boost/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":["1","2","3"]}]}`, 400, `is FP32 but its data holds strings`},
		{"not an integer", "POST", "/v2/models/boost/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"INT64","data":[1,2.5,3]}]}`, 400, `value 1 (2.5) is not a valid INT64`},
		{"unknown feature", "POST", "/v2/models/boost/infer", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"q","shape":[1],"datatype":"FP64","data":[1]}]}`, 400, `input "q" is not a feature of model "boost" (features: a, b, c)`},
		{"missing feature", "POST", "/v2/models/boost/infer", `{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1]},{"name":"b","shape":[1],"datatype":"FP64","data":[1]}]}`, 400, `missing features: c`},
		{"missing value for sklearn", "POST", "/v2/models/tree/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP64","data":[1,null,3]}]}`, 400, `row 0 feature 1 is NaN (missing); this model takes finite numbers only`},
		{"unknown output", "POST", "/v2/models/tree/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP64","data":[1,2,3]}],"outputs":[{"name":"scores"}]}`, 400, `has no output "scores" (outputs: predict, predict_proba)`},
		{"malformed JSON", "POST", "/v2/models/boost/infer", `{"inputs":[`, 400, `malformed JSON`},
		{"wrong JSON type", "POST", "/v2/models/boost/infer", `{"inputs":{"name":"x"}}`, 400, `field "inputs" should be an array, not a JSON object`},
		{"no inputs", "POST", "/v2/models/boost/infer", `{}`, 400, `no inputs`},
		{"unknown model", "POST", "/v2/models/nope/infer", `{}`, 404, `"nope" is not in the repository`},
		{"unknown version", "POST", "/v2/models/boost/versions/9/infer", `{}`, 404, `no version "9"`},
		{"simple missing", "POST", "/predict", `{"a":1}`, 400, `missing features: b, c`},
		{"simple unknown", "POST", "/predict", `{"a":1,"b":2,"c":3,"d":4}`, 400, `unknown features: d`},
		{"simple not a number", "POST", "/predict", `{"a":"one","b":2,"c":3}`, 400, `feature "a" must be a number`},
		{"simple not an object", "POST", "/predict", `42`, 400, `send a JSON object of the features a, b, c`},
		{"v1 no instances", "POST", "/v1/models/boost:predict", `{"instances":[]}`, 400, `no instances`},
		{"v1 short row", "POST", "/v1/models/boost:predict", `{"instances":[[1,2]]}`, 400, `instance 0: 2 values, but the model takes 3 features`},
		{"v1 wrong verb", "POST", "/v1/models/boost:explain", `{}`, 404, `use /v1/models/{name}:predict`},
		{"no route", "GET", "/v3/x", "", 404, `no route GET /v3/x`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := ts.call(c.method, c.path, c.body)
			text := body
			if status >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
					t.Fatalf("error body is not {\"error\": ...}: %s", body)
				}
				text = e.Error
			}
			if status != c.status || !strings.Contains(text, c.want) {
				t.Fatalf("%s %s: got %d %s\nwant %d containing %s", c.method, c.path, status, body, c.status, c.want)
			}
		})
	}
}

func TestOversizedBody(t *testing.T) {
	ts := newTestServer(t, testModels, Options{MaxRequestBytes: 1024})
	status, body := ts.call("POST", "/v2/models/boost/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"pad":"`+strings.Repeat("x", 2000)+`"}`)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "request body exceeds 1024 bytes") {
		t.Fatalf("got %d %s", status, body)
	}
}

func TestReadinessFollowsTheRepository(t *testing.T) {
	ts := newTestServer(t, map[string][2]string{"broken": {"format: sklearn\n", "xgb-reg.json"}}, Options{})
	if status, body := ts.call("GET", "/v2/health/ready", ""); status != 503 || !strings.Contains(body, `"ready":false`) {
		t.Fatalf("ready with a broken model: %d %s", status, body)
	}
	if status, body := ts.call("GET", "/v2/models/broken/ready", ""); status != 503 {
		t.Fatalf("model ready: %d %s", status, body)
	}
	if status, body := ts.call("POST", "/v2/models/broken/infer", `{}`); status != 503 || !strings.Contains(body, "no version loaded") {
		t.Fatalf("infer on a model that did not load: %d %s", status, body)
	}
	ts.putVersion("broken", "2", "sk-tree.json")
	ts.srv.repo.Scan(context.Background())
	if status, _ := ts.call("GET", "/v2/health/ready", ""); status != 200 {
		t.Fatalf("not ready after a good version arrived: %d", status)
	}
}

// TestDrainsInFlightRequests stops the server while a request's body is
// still arriving; the request is answered, a new connection is refused.
func TestDrainsInFlightRequests(t *testing.T) {
	dir := t.TempDir()
	data, _ := os.ReadFile("testdata/xgb-reg.json")
	_ = os.MkdirAll(filepath.Join(dir, "m", "1"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "m", "model.yaml"), []byte("format: xgboost\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "m", "1", "model.json"), data, 0o644)
	srv, err := New(context.Background(), Options{Repository: dir, HTTPAddress: "127.0.0.1:0", GRPCAddress: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	body := `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+srv.HTTPAddr()+"/v2/models/m/infer", pr)
	req.ContentLength = int64(len(body))
	answered := make(chan string, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		answered <- resp.Status + " " + string(data)
	}()
	_, _ = pw.Write([]byte(body[:10]))
	time.Sleep(100 * time.Millisecond) // the request is in the handler, reading
	cancel()
	time.Sleep(100 * time.Millisecond) // the server is draining
	if c, err := http.Post("http://"+srv.HTTPAddr()+"/v2/health/live", "", nil); err == nil {
		c.Body.Close()
		t.Fatal("a draining server took a new connection")
	}
	_, _ = pw.Write([]byte(body[10:]))
	_ = pw.Close()
	if got := <-answered; !strings.HasPrefix(got, "200 OK") {
		t.Fatalf("the in-flight request got %s", got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, testModels, Options{})
	for i := 0; i < 3; i++ {
		ts.call("POST", "/v1/models/labels:predict", `{"instances":[[0.1,0.2,0.3]]}`)
	}
	ts.call("POST", "/v1/models/labels:predict", `{"instances":[[0.1]]}`)
	ts.call("POST", "/v2/models/whatever/infer", `{}`)
	_, text := ts.call("GET", "/metrics", "")
	for _, want := range []string{
		`skiff_model_requests_total{model="labels",protocol="v1-rest",version="1"} 4`,
		`skiff_model_request_errors_total{model="labels",protocol="v1-rest",reason="bad_request",version="1"} 1`,
		`skiff_model_request_errors_total{model="",protocol="v2-rest",reason="not_found",version=""} 1`,
		`skiff_model_request_duration_seconds_count{model="labels",protocol="v1-rest",version="1"} 4`,
		`skiff_model_batch_size_count{model="labels",version="1"} 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestNoKubernetesImports(t *testing.T) {
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range bytes.Split(deps, []byte("\n")) {
		if bytes.HasPrefix(d, []byte("k8s.io/")) || bytes.Contains(d, []byte("/internal/node")) {
			t.Errorf("the model server depends on %s: it must stay data plane", d)
		}
	}
}

// TestSwapUnderLoad keeps clients busy while new versions (one broken)
// arrive and the folder is rescanned: no request may fail.
func TestSwapUnderLoad(t *testing.T) {
	ts := newTestServer(t, map[string][2]string{"m": {"format: sklearn\n", "sk-tree.json"}}, Options{})
	body := `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP64","data":[0.2,0.4,0.6]}]}`
	stop := make(chan struct{})
	failures := make(chan string, 100)
	var wg sync.WaitGroup
	var served atomic.Int64
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(ts.base+"/v2/models/m/infer", "application/json", strings.NewReader(body))
				if err != nil {
					failures <- err.Error()
					return
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures <- string(data)
					return
				}
				served.Add(1)
			}
		}()
	}
	for v := 2; v <= 6; v++ {
		file := "sk-labels.json"
		if v == 4 {
			file = "xgb-reg.json" // not a scikit-learn export: refused
		}
		ts.putVersion("m", strconv.Itoa(v), file)
		ts.srv.repo.Scan(context.Background())
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Fatalf("a request failed during the swaps: %s", f)
	}
	if served.Load() < 20 {
		t.Fatalf("only %d requests were served", served.Load())
	}
	if _, body := ts.call("GET", "/v2/models/m", ""); !strings.Contains(body, `"versions":["6"]`) {
		t.Fatalf("after the swaps: %s", body)
	}
}
