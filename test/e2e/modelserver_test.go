package e2e

import (
	"context"
	"encoding/json"
	"net/http"
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

// seedBody is the seed's prediction request; 003's model answers 31.55...
const seedBody = `{"CRIM": 15.02, "ZN": 0.0, "INDUS": 18.1, "CHAS": 0.0, "NOX": 0.614, "RM": 5.3, "AGE": 97.3, "DIS": 2.1, "RAD": 24.0, "TAX": 666.0, "PTRATIO": 20.2, "B": 349.48, "LSTAT": 24.9}`

// testModelServerExample runs examples/005: the seed's model exported and
// served by skiff serve-model pods behind a Service; a new version is
// swapped in and a broken one refused under a steady request stream, and a
// rolling restart loses nothing.
func testModelServerExample(t *testing.T, in *instance, modelAPI string) {
	repo := t.TempDir()
	v1 := filepath.Join(repo, "housing", "1", "model.json")
	if err := os.MkdirAll(filepath.Dir(v1), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(skiffBin, "export-sklearn", "--python", "/usr/bin/python3", filepath.Join(modelAPI, "model.pkl"), v1).CombinedOutput(); err != nil {
		t.Fatalf("export-sklearn: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(repo, "housing", "model.yaml"), []byte("format: sklearn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := exampleFile(t, "005-model-server/deployment.yaml", "/srv/skiff-models", repo)
	in.mustKubectl("apply", "-f", manifest)
	in.mustKubectl("rollout", "status", "deployment/housing-model", "--timeout=2m")
	svc := in.jsonpath("get", "service", "housing-model", "-o", "jsonpath={.spec.clusterIP}")

	// The seed's request, unchanged, answers what 003's Flask API answers
	// (once the Service's rules, which follow the pods' readiness, are in).
	var got string
	eventually(t, 10*time.Second, "POST /predict through the Service", func() error {
		var err error
		got, err = predict(svc+":80", seedBody)
		return err
	})
	if !strings.Contains(got, `{"prediction":31.55`) {
		t.Fatalf("POST /predict through the Service: %s", got)
	}
	// The Open Inference Protocol through the same Service: REST and gRPC.
	v2 := `{"inputs":[{"name":"input-0","shape":[1,13],"datatype":"FP64","data":[15.02,0,18.1,0,0.614,5.3,97.3,2.1,24,666,20.2,349.48,24.9]}]}`
	resp, err := httpClient.Post("http://"+svc+"/v2/models/housing/infer", "application/json", strings.NewReader(v2))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Outputs []struct{ Data []float64 } }
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(answer.Outputs) != 1 || int(answer.Outputs[0].Data[0]*100) != 3155 {
		t.Fatalf("v2 infer through the Service: %s %+v", resp.Status, answer)
	}
	conn, err := grpc.NewClient(svc+":8081", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := pb.NewGRPCInferenceServiceClient(conn).ModelReady(ctx, &pb.ModelReadyRequest{Name: "housing"}); err != nil || !r.Ready {
		t.Fatalf("gRPC ModelReady through the Service: %v %v", r, err)
	}

	stream := startRequests(svc+":80", seedBody)
	// Version 2: the same model with its intercept moved by 100.
	writeShiftedModel(t, v1, filepath.Join(repo, "housing", "2", "model.json"), 100)
	eventually(t, 30*time.Second, "both replicas serve version 2", func() error {
		for i := 0; i < 10; i++ {
			if got, err := predict(svc+":80", seedBody); err != nil || !strings.Contains(got, `{"prediction":131.55`) {
				return os.ErrNotExist
			}
		}
		return nil
	})
	// Version 3 is broken: refused, version 2 keeps serving.
	broken := filepath.Join(repo, "housing", "3", "model.json")
	_ = os.MkdirAll(filepath.Dir(broken), 0o755)
	if err := os.WriteFile(broken, []byte(`{"format": "skiff-sklearn", "format_vers`), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the broken version refused in the logs", func() error {
		logs, _ := in.kubectl("logs", "deployment/housing-model")
		if !strings.Contains(logs, "Model version refused") || !strings.Contains(logs, "housing/3/model.json") {
			return os.ErrNotExist
		}
		return nil
	})
	if got, err := predict(svc+":80", seedBody); err != nil || !strings.Contains(got, `{"prediction":131.55`) {
		t.Fatalf("after a broken version 3: %s %v", got, err)
	}
	in.mustKubectl("rollout", "restart", "deployment/housing-model")
	in.mustKubectl("rollout", "status", "deployment/housing-model", "--timeout=3m")
	time.Sleep(2 * time.Second)
	sent, failures := stream.stop()
	t.Logf("model server: %d requests through swaps and a rollout, %d failed", sent, len(failures))
	if sent < 50 || len(failures) > 0 {
		t.Errorf("%d requests, %d failed: %v", sent, len(failures), failures[:min(len(failures), 5)])
	}
	in.mustKubectl("delete", "-f", manifest)

	// The same model as one ModelService (the example's modelservice.yaml).
	in.mustKubectl("apply", "-f", exampleFile(t, "005-model-server/modelservice.yaml", "/srv/skiff-models", repo))
	base := in.msURL(t, "housing")
	if got, err := post(base+"/predict", seedBody); err != nil || !strings.Contains(got, `{"prediction":31.55`) {
		t.Errorf("POST %s/predict of the ModelService: %s %v", base, got, err)
	}
	in.mustKubectl("delete", "modelservice", "housing", "--wait", "--timeout=1m")
}

// writeShiftedModel writes a copy of a linear model export with its
// intercept moved, atomically, as a new version.
func writeShiftedModel(t *testing.T, from, to string, shift float64) {
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	linear := doc["linear"].(map[string]any)
	intercept := linear["intercept"].([]any)
	intercept[0] = intercept[0].(float64) + shift
	data, _ = json.Marshal(doc)
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
