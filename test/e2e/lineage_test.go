package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// experimentRegisters runs examples/006's Experiment, whose trials write
// their models to $SKIFF_OUTPUT_DIR: the best trial becomes a version of
// model diabetes with challenger on it, a ModelService on
// models:/diabetes@challenger serves exactly that file, and the lineage
// reads back from the ModelService to the trial's parameters.
func experimentRegisters(t *testing.T, in *instance) {
	in.mustKubectl("create", "configmap", "diabetes-code", "--from-file=../../examples/006-model-registry/train.py")
	in.mustKubectl("apply", "-f", exampleFile(t, "006-model-registry/experiment.yaml"))
	in.mustKubectl("wait", "experiment/diabetes", "--for=condition=Registered", "--timeout=4m")

	best := in.jsonpath("get", "experiment", "diabetes", "-o", "jsonpath={.status.currentOptimalTrial.bestTrialName}")
	if got := in.jsonpath("get", "experiment", "diabetes", "-o", "jsonpath={.status.registration.modelVersion} {.status.registration.version} {.status.registration.aliasSet}"); got != best+" 1 true" {
		t.Errorf("registration %q, want %s 1 true", got, best)
	}
	if got := in.jsonpath("get", "model", "diabetes", "-o", "jsonpath={.spec.aliases.challenger} {.status.aliasHistory[0].user}"); !strings.HasPrefix(got, "1 ") || strings.TrimPrefix(got, "1 ") == "" {
		t.Errorf("model diabetes: challenger and who moved it %q, want 1 and a user", got)
	}

	in.mustKubectl("apply", "-f", writeManifest(t, modelService("diabetes", "xgboost", "models:/diabetes@challenger", "")))
	base := in.msURL(t, "diabetes")
	rows := [][]float64{{0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0, 0.02, -0.02}, {-0.09, -0.04, -0.05, -0.03, -0.01, -0.02, 0.07, -0.04, -0.07, -0.09}}
	got, err := inferREST(base, "diabetes", rows)
	artifact := strings.TrimPrefix(in.jsonpath("get", "mv", best, "-o", "jsonpath={.status.artifactUri}"), "file://")
	if err == nil {
		err = sameNumbers(got, xgboostPredicts(t, artifact, rows))
	}
	if err != nil {
		t.Errorf("models:/diabetes@challenger does not serve the best trial's model: %v", err)
	}

	// Lineage: ModelService -> version -> trial -> parameters.
	served := in.jsonpath("get", "ms", "diabetes", "-o", "jsonpath={.status.modelVersion.model}/{.status.modelVersion.version}")
	if served != "diabetes/1" {
		t.Fatalf("the ModelService serves %q, want diabetes/1", served)
	}
	run := in.jsonpath("get", "mv", "-l", "ml.skiff.dev/model=diabetes,ml.skiff.dev/version=1", "-o", "jsonpath={.items[0].spec.runRef.kind}/{.items[0].spec.runRef.name}")
	if run != "Trial/"+best {
		t.Errorf("version 1's run %q, want Trial/%s", run, best)
	}
	params := `jsonpath={range .spec.%s[*]}{.name}={.value} {end}`
	trialParams := in.jsonpath("get", "trial", best, "-o", strings.Replace(params, "%s", "parameterAssignments", 1))
	if got := in.jsonpath("get", "mv", best, "-o", strings.Replace(params, "%s", "parameters", 1)); got != trialParams || !strings.Contains(got, "max_depth=") {
		t.Errorf("version parameters %q, the trial's %q", got, trialParams)
	}
	rmse := in.jsonpath("get", "trial", best, "-o", `jsonpath={.status.observation.metrics[?(@.name=="rmse")].latest}`)
	if got := in.jsonpath("get", "mv", best, "-o", `jsonpath={.spec.metrics[?(@.name=="rmse")].value}`); got != rmse || rmse == "" {
		t.Errorf("version rmse %q, the trial's %q", got, rmse)
	}
	history, err := in.skiff("models", "history", "diabetes", "--kubeconfig", in.kubeconfig())
	for _, line := range []string{"run trial/" + best, "max_depth=", "rmse=" + rmse, "alias challenger set to version 1", "models:/diabetes@challenger"} {
		if err != nil || !strings.Contains(history, line) {
			t.Errorf("skiff models history diabetes lacks %q (%v):\n%s", line, err, history)
		}
	}

	// The claim goes with the Experiment; the registered copy stays.
	in.mustKubectl("delete", "experiment", "diabetes", "--wait")
	in.waitJSONPath(t, time.Minute, "", "get", "pvc", "-l", "ml.skiff.dev/experiment=diabetes", "-o", "jsonpath={.items[*].metadata.name}")
	if got := in.jsonpath("get", "mv", best, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`); got != "True" {
		t.Errorf("version %s after its Experiment went: Ready %q", best, got)
	}
}

// xgboostPredicts is what XGBoost itself predicts from the model file.
func xgboostPredicts(t *testing.T, modelFile string, rows [][]float64) []float64 {
	t.Helper()
	data, _ := json.Marshal(rows)
	script := "import json, sys, numpy, xgboost\nb = xgboost.Booster()\nb.load_model(sys.argv[1])\n" +
		"print(json.dumps(b.predict(xgboost.DMatrix(numpy.array(json.loads(sys.argv[2])))).astype(float).tolist()))"
	out, err := exec.Command("/usr/bin/python3", "-c", script, modelFile, string(data)).Output()
	if err != nil {
		t.Fatalf("xgboost on %s: %v", modelFile, err)
	}
	var want []float64
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("xgboost's predictions %s: %v", out, err)
	}
	return want
}
