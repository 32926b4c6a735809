package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/skiff-dev/skiff/internal/modelserver/inferencepb"
)

// oracle is what the Python libraries answer for the test's rows.
type oracle struct {
	Rows    [][]float64 `json:"rows"`
	XGBv1   []float64   `json:"xgb_v1"`
	XGBv2   []float64   `json:"xgb_v2"`
	Sklearn []float64   `json:"sklearn"`
}

// trainModels trains the test's models into dir (xgb-v1/, xgb-v2/,
// forest.json) and returns the libraries' predictions.
func trainModels(t *testing.T, dir string) oracle {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "testdata/ms_models.py", dir).Output()
	if err != nil {
		t.Fatalf("training the models (needs Debian's python3-xgboost and python3-sklearn): %v", err)
	}
	var o oracle
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("ms_models.py: %v\n%s", err, out)
	}
	if out, err := exec.Command(skiffBin, "export-sklearn", "--python", "/usr/bin/python3", filepath.Join(dir, "forest.pkl"), filepath.Join(dir, "forest.json")).CombinedOutput(); err != nil {
		t.Fatalf("export-sklearn: %v\n%s", err, out)
	}
	return o
}

// modelService is a ModelService of a native model.
func modelService(name, format, uri string, extra string) string {
	return fmt.Sprintf(`apiVersion: ml.skiff.dev/v1alpha1
kind: ModelService
metadata: {name: %s}
spec:
  predictor:
    model:
      modelFormat: {name: %s}
      storageUri: %s
%s`, name, format, uri, extra)
}

// v2Body is an Open Inference Protocol request of rows.
func v2Body(rows [][]float64) string {
	var flat []float64
	for _, r := range rows {
		flat = append(flat, r...)
	}
	data, _ := json.Marshal(flat)
	return fmt.Sprintf(`{"inputs":[{"name":"input-0","shape":[%d,%d],"datatype":"FP64","data":%s}]}`, len(rows), len(rows[0]), data)
}

// inferREST sends rows to <base>/v2/models/<name>/infer.
func inferREST(base, name string, rows [][]float64) ([]float64, error) {
	answer, err := post(base+"/v2/models/"+name+"/infer", v2Body(rows))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, answer)
	}
	return parseV2([]byte(answer))
}

// parseV2 is the first output of an Open Inference Protocol answer.
func parseV2(answer []byte) ([]float64, error) {
	var got struct{ Outputs []struct{ Data []float64 } }
	if err := json.Unmarshal(answer, &got); err != nil || len(got.Outputs) == 0 {
		return nil, fmt.Errorf("answer %s: %v", answer, err)
	}
	return got.Outputs[0].Data, nil
}

// inferGRPC sends rows over gRPC to addr (host:port).
func inferGRPC(addr, name string, rows [][]float64) ([]float64, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var flat []float64
	for _, r := range rows {
		flat = append(flat, r...)
	}
	resp, err := pb.NewGRPCInferenceServiceClient(conn).ModelInfer(ctx, &pb.ModelInferRequest{ModelName: name, Inputs: []*pb.ModelInferRequest_InferInputTensor{{
		Name: "input-0", Datatype: "FP64", Shape: []int64{int64(len(rows)), int64(len(rows[0]))}, Contents: &pb.InferTensorContents{Fp64Contents: flat},
	}}})
	if err != nil {
		return nil, err
	}
	var out []float64
	for _, v := range resp.Outputs[0].Contents.GetFp32Contents() {
		out = append(out, float64(v))
	}
	return append(out, resp.Outputs[0].Contents.GetFp64Contents()...), nil
}

// sameNumbers says whether got matches want to 1e-6 (relative).
func sameNumbers(got, want []float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d predictions, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6*math.Max(1, math.Abs(want[i])) {
			return fmt.Errorf("prediction %d = %v, the library says %v", i, got[i], want[i])
		}
	}
	return nil
}

// msURL waits for a Ready ModelService and returns its status.url.
func (in *instance) msURL(t *testing.T, name string) string {
	t.Helper()
	in.mustKubectl("wait", "modelservice/"+name, "--for=condition=Ready", "--timeout=2m")
	u := in.jsonpath("get", "modelservice", name, "-o", "jsonpath={.status.url}")
	if _, err := url.Parse(u); err != nil || u == "" {
		t.Fatalf("modelservice %s: status.url %q", name, u)
	}
	waitAnswers(t, name, u)
	return u
}

// waitAnswers waits for a Ready ModelService to answer at u: Ready is the
// pods'; the Service's rules follow within moments.
func waitAnswers(t *testing.T, name, u string) {
	t.Helper()
	eventually(t, 10*time.Second, "modelservice "+name+" answers at "+u, func() error {
		resp, err := httpClient.Get(u + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
}

// readyCondition is a ModelService's Ready condition, as status reason: message.
func (in *instance) readyCondition(name string) string {
	return in.jsonpath("get", "modelservice", name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}`)
}

func TestModelService(t *testing.T) {
	models := t.TempDir()
	want := trainModels(t, models)
	modelAPI := seedModelAPI(t)
	in := newInstance(t)
	in.writeImageMap(t, "images:\n- image: \"lpatruno/k8-model-api:*\"\n  dir: "+modelAPI+"\n")
	in.up("--write-kubeconfig=false")

	t.Run("native models answer as their libraries do", func(t *testing.T) {
		in.apply(t, modelService("housing", "xgboost", "file://"+models+"/xgb-v1", "    minReplicas: 2\n")+"---\n"+
			modelService("forest", "sklearn", "file://"+models+"/forest.json", ""))
		for _, c := range []struct {
			name string
			want []float64
		}{{"housing", want.XGBv1}, {"forest", want.Sklearn}} {
			base := in.msURL(t, c.name)
			got, err := inferREST(base, c.name, want.Rows)
			if err == nil {
				err = sameNumbers(got, c.want)
			}
			if err != nil {
				t.Errorf("%s over REST at %s: %v", c.name, base, err)
			}
			// gRPC goes to the in-cluster Service (the gateway's URL is a path).
			host := in.jsonpath("get", "service", c.name+"-predictor", "-o", "jsonpath={.spec.clusterIP}")
			for _, addr := range []string{host + ":80", host + ":8081"} {
				got, err := inferGRPC(addr, c.name, want.Rows)
				if err == nil {
					err = sameNumbers(got, c.want)
				}
				if err != nil {
					t.Errorf("%s over gRPC at %s: %v", c.name, addr, err)
				}
			}
		}
		in.waitJSONPath(t, 30*time.Second, "input-0 FP64 [-1,10]", "get", "modelservice", "housing", "-o", "jsonpath={.status.model.inputs[0].name} {.status.model.inputs[0].datatype} {.status.model.inputs[0].shape}")
		if n := in.jsonpath("get", "modelservice", "housing", "-o", "jsonpath={.status.readyReplicas}"); n != "2" {
			t.Errorf("housing with minReplicas 2: %s ready replicas", n)
		}
		table := in.mustKubectl("get", "modelservices")
		for _, col := range []string{"URL", "READY", "TRAFFIC", "AGE", "housing-00001=100%"} {
			if !strings.Contains(table, col) {
				t.Errorf("kubectl get modelservices lacks %s:\n%s", col, table)
			}
		}
		// -o yaml round-trips: applied back, it changes nothing.
		yaml := in.mustKubectl("get", "modelservice", "housing", "-o", "yaml")
		gen := in.jsonpath("get", "modelservice", "housing", "-o", "jsonpath={.metadata.generation}")
		in.apply(t, yaml)
		if again := in.jsonpath("get", "modelservice", "housing", "-o", "jsonpath={.metadata.generation}"); again != gen {
			t.Errorf("applying its own -o yaml moved the generation from %s to %s", gen, again)
		}
		if out := in.mustKubectl("describe", "modelservice", "housing"); !strings.Contains(out, "RevisionReady") || !strings.Contains(out, "Latest Ready Revision:") {
			t.Errorf("kubectl describe modelservice:\n%s", out)
		}
		if out := in.mustKubectl("explain", "modelservice.spec.predictor.model.storageUri"); !strings.Contains(out, "pvc://") {
			t.Errorf("kubectl explain storageUri:\n%s", out)
		}
	})

	t.Run("a new model rolls out without a failed request", func(t *testing.T) {
		base := in.msURL(t, "housing")
		stream := startPosts(base+"/v2/models/housing/infer", v2Body(want.Rows))
		in.mustKubectl("patch", "modelservice", "housing", "--type=merge", "-p", `{"spec":{"predictor":{"model":{"storageUri":"file://`+models+`/xgb-v2"}}}}`)
		in.waitJSONPath(t, 2*time.Minute, "housing-00002=100%", "get", "modelservice", "housing", "-o", "jsonpath={.status.trafficSummary}")
		in.msURL(t, "housing")
		time.Sleep(3 * time.Second) // the old pods' last moments
		sent, failures := stream.stop()
		t.Logf("rollout: %d requests, %d failed", sent, len(failures))
		if sent < 20 || len(failures) > 0 {
			t.Errorf("during the rollout: %d requests, %d failed: %v", sent, len(failures), failures[:min(len(failures), 5)])
		}
		got, err := inferREST(base, "housing", want.Rows)
		if err == nil {
			err = sameNumbers(got, want.XGBv2)
		}
		if err != nil {
			t.Errorf("after the rollout: %v", err)
		}
	})

	t.Run("a broken or missing model leaves the last good revision serving", func(t *testing.T) {
		broken := filepath.Join(models, "broken.json")
		if err := os.WriteFile(broken, []byte(`{"learner": {`), 0o644); err != nil {
			t.Fatal(err)
		}
		base := in.msURL(t, "housing")
		for _, c := range []struct{ uri, reason, says string }{
			{"file://" + broken, "ModelLoadFailed", "file://" + broken},
			{"file://" + models + "/nothere", "FailedMount", models + "/nothere is not a directory"},
			{"file://" + models, "ModelLoadFailed", "no model at file://" + models + ": the folder holds no model.json"},
		} {
			in.mustKubectl("patch", "modelservice", "housing", "--type=merge", "-p", `{"spec":{"predictor":{"model":{"storageUri":"`+c.uri+`"}}}}`)
			eventually(t, time.Minute, "Ready=False names the problem", func() error {
				if got := in.readyCondition("housing"); !strings.HasPrefix(got, "False "+c.reason) || !strings.Contains(got, c.says) {
					return fmt.Errorf("ready condition %q", got)
				}
				return nil
			})
			if got, err := inferREST(base, "housing", want.Rows); err != nil || sameNumbers(got, want.XGBv2) != nil {
				t.Errorf("revision 2 should still serve: %v %v", got, err)
			}
			if got := in.jsonpath("get", "modelservice", "housing", "-o", `jsonpath={.status.conditions[?(@.type=="Serving")].reason}`); got != "PreviousRevision" {
				t.Errorf("Serving reason %q, want PreviousRevision", got)
			}
		}
		if _, err := os.Stat(filepath.Join(models, "nothere")); err == nil {
			t.Error("the missing model path was created on the node")
		}
		events := in.mustKubectl("get", "events", "--field-selector", "involvedObject.kind=ModelService,involvedObject.name=housing")
		for _, reason := range []string{"RevisionCreated", "RevisionReady", "RevisionFailed"} {
			if !strings.Contains(events, reason) {
				t.Errorf("no %s event:\n%s", reason, events)
			}
		}
		in.mustKubectl("patch", "modelservice", "housing", "--type=merge", "-p", `{"spec":{"predictor":{"model":{"storageUri":"file://`+models+`/xgb-v1"}}}}`)
		in.msURL(t, "housing")
	})

	t.Run("a model in a PersistentVolumeClaim", func(t *testing.T) {
		in.mustKubectl("create", "configmap", "xgb-model", "--from-file=model.json="+models+"/xgb-v1/model.json")
		in.apply(t, `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: models}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: upload}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: copy
        image: busybox
        command: [sh, -c, "mkdir -p /models/housing && cp /in/model.json /models/housing/model.json"]
        volumeMounts: [{name: in, mountPath: /in}, {name: models, mountPath: /models}]
      volumes:
      - {name: in, configMap: {name: xgb-model}}
      - {name: models, persistentVolumeClaim: {claimName: models}}
`)
		in.mustKubectl("wait", "job/upload", "--for=condition=complete", "--timeout=1m")
		in.apply(t, modelService("from-claim", "xgboost", "pvc://models/housing", ""))
		got, err := inferREST(in.msURL(t, "from-claim"), "from-claim", want.Rows)
		if err == nil {
			err = sameNumbers(got, want.XGBv1)
		}
		if err != nil {
			t.Errorf("a model from pvc://models/housing: %v", err)
		}
		in.mustKubectl("delete", "modelservice", "from-claim", "--wait", "--timeout=1m")
	})

	t.Run("a kill -9 of skiff makes no second revision", func(t *testing.T) {
		before := in.jsonpath("get", "modelservice", "housing", "-o", "jsonpath={.status.latestCreatedRevision} {.metadata.generation}")
		in.forceKill()
		in.up("--write-kubeconfig=false")
		in.msURL(t, "housing")
		if after := in.jsonpath("get", "modelservice", "housing", "-o", "jsonpath={.status.latestCreatedRevision} {.metadata.generation}"); after != before {
			t.Errorf("after a restart: revision and generation %q, were %q", after, before)
		}
		if n := len(strings.Fields(in.jsonpath("get", "replicasets", "-l", "ml.skiff.dev/modelservice=housing", "-o", "name"))); n > 4 {
			t.Errorf("%d replica sets for housing", n)
		}
	})

	t.Run("autoscaler follows the replica bounds", func(t *testing.T) {
		in.mustKubectl("patch", "modelservice", "forest", "--type=merge", "-p", `{"spec":{"predictor":{"maxReplicas":3}}}`)
		in.waitJSONPath(t, 30*time.Second, "1 3", "get", "hpa", "forest-predictor", "-o", "jsonpath={.spec.minReplicas} {.spec.maxReplicas}")
		if rev := in.jsonpath("get", "modelservice", "forest", "-o", "jsonpath={.status.latestCreatedRevision}"); rev != "forest-00001" {
			t.Errorf("a change of the replica bounds made revision %s", rev)
		}
		in.mustKubectl("patch", "modelservice", "forest", "--type=merge", "-p", `{"spec":{"predictor":{"maxReplicas":0}}}`)
		eventually(t, 30*time.Second, "HPA removed", func() error {
			if out, err := in.kubectl("get", "hpa", "forest-predictor"); err == nil {
				return fmt.Errorf("still there: %s", out)
			}
			return nil
		})
	})

	t.Run("bad input is refused at apply", func(t *testing.T) {
		for _, c := range []struct{ name, spec, says string }{
			{"unknown format", `{"model":{"modelFormat":{"name":"onnx"},"storageUri":"file:///m"}}`, `spec.predictor.model.modelFormat.name: Unsupported value: "onnx"`},
			{"model and containers", `{"model":{"modelFormat":{"name":"xgboost"},"storageUri":"file:///m"},"containers":[{"name":"a","image":"b"}]}`, "set exactly one of predictor.model"},
			{"neither", `{}`, "set exactly one of predictor.model"},
			{"min above max", `{"model":{"modelFormat":{"name":"xgboost"},"storageUri":"file:///m"},"minReplicas":3,"maxReplicas":2}`, "minReplicas must not exceed predictor.maxReplicas"},
			{"unknown scheme", `{"model":{"modelFormat":{"name":"xgboost"},"storageUri":"gs://bucket/m"}}`, "storageUri must be file:///"},
		} {
			manifest := `{"apiVersion":"ml.skiff.dev/v1alpha1","kind":"ModelService","metadata":{"name":"bad"},"spec":{"predictor":` + c.spec + `}}`
			path := filepath.Join(t.TempDir(), "bad.json")
			if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := in.kubectl("apply", "-f", path); err == nil || !strings.Contains(out, c.says) {
				t.Errorf("%s: kubectl apply said %q (%v), want %q", c.name, out, err, c.says)
			}
		}
	})

	t.Run("custom predictor serves the seed's Flask API", func(t *testing.T) {
		in.mustKubectl("apply", "-f", "../../examples/003-model-api/modelservice.yaml")
		base := in.msURL(t, "k8-model-api")
		if got, err := post(base+"/predict", seedBody); err != nil || !strings.Contains(got, `{"prediction":31.55`) {
			t.Errorf("POST %s/predict: %s %v", base, got, err)
		}
	})

	t.Run("skiff serve and skiff predict", func(t *testing.T) {
		served := t.TempDir()
		common := []string{"--kubeconfig", in.kubeconfig(), "--models-dir", served, "--python", "/usr/bin/python3"}
		out, err := in.skiff(append([]string{"serve", filepath.Join(models, "forest.pkl"), "--dry-run", "-o", "yaml"}, common...)...)
		if err != nil || !strings.Contains(out, "kind: ModelService") || !strings.Contains(out, "name: sklearn") {
			t.Fatalf("serve --dry-run -o yaml: %v\n%s", err, out)
		}
		if entries, _ := os.ReadDir(served); len(entries) > 0 {
			t.Error("a dry run placed the model")
		}
		out, err = in.skiff(append([]string{"serve", filepath.Join(models, "forest.pkl"), "--replicas", "2"}, common...)...)
		if err != nil || !strings.Contains(out, "forest is ready at http://") || !strings.Contains(out, "skiff predict forest") {
			t.Fatalf("skiff serve: %v\n%s", err, out)
		}
		rows, _ := json.Marshal(want.Rows)
		out, err = in.skiff("predict", "forest", "--kubeconfig", in.kubeconfig(), "--data", string(rows), "-o", "json")
		if err != nil {
			t.Fatalf("skiff predict: %v\n%s", err, out)
		}
		var answer struct{ Outputs []struct{ Data []float64 } }
		if err := json.Unmarshal([]byte(out), &answer); err != nil || len(answer.Outputs) == 0 {
			t.Fatalf("skiff predict -o json: %v\n%s", err, out)
		}
		if err := sameNumbers(answer.Outputs[0].Data, want.Sklearn); err != nil {
			t.Errorf("skiff predict: %v", err)
		}
		if table, err := in.skiff("predict", "forest", "--kubeconfig", in.kubeconfig(), "--data", string(rows)); err != nil || !strings.HasPrefix(table, "ROW") || strings.Count(table, "\n") != 6 {
			t.Errorf("skiff predict table: %v\n%s", err, table)
		}
		// The seed's API takes named features: one object per row.
		out, err = in.skiff("predict", "k8-model-api", "--kubeconfig", in.kubeconfig(), "--data", seedBody)
		if err != nil || !strings.Contains(out, "PREDICTION") || !strings.Contains(out, "31.55") {
			t.Errorf("skiff predict of the custom predictor: %v\n%s", err, out)
		}
	})

	t.Run("deleting a ModelService leaves nothing behind", func(t *testing.T) {
		in.mustKubectl("delete", "modelservices", "--all", "--wait", "--timeout=1m")
		eventually(t, time.Minute, "everything the ModelServices made is gone", func() error {
			out := in.jsonpath("get", "deployments,replicasets,services,hpa,pods", "-l", "ml.skiff.dev/modelservice", "-o", "name")
			if out != "" {
				return fmt.Errorf("left: %s", out)
			}
			return nil
		})
	})
}
