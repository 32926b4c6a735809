package e2e

import (
	"strings"
	"testing"
)

// TestOperatorOnAnotherCluster installs the operator with deploy/ on a
// skiff that runs no ML controllers ("some other cluster"): the operator
// runs as a pod of skiff's image (on a skiff node, the skiff binary) with
// its least-privilege RBAC, and serves the same ModelService.
func TestOperatorOnAnotherCluster(t *testing.T) {
	models := t.TempDir()
	want := trainModels(t, models)
	in := newInstance(t)
	in.up("--write-kubeconfig=false", "--ml-controllers=false")
	if out, err := in.kubectl("get", "crd", "modelservices.ml.skiff.dev"); err == nil {
		t.Fatalf("with --ml-controllers=false the ML CRDs are installed:\n%s", out)
	}
	in.mustKubectl("apply", "-k", "../../deploy")
	in.mustKubectl("-n", "skiff-system", "rollout", "status", "deployment/skiff-operator", "--timeout=2m")

	in.apply(t, modelService("housing", "xgboost", "file://"+models+"/xgb-v1", ""))
	in.mustKubectl("wait", "modelservice/housing", "--for=condition=Ready", "--timeout=2m")
	if u := in.jsonpath("get", "modelservice", "housing", "-o", "jsonpath={.status.url}"); u != "http://housing-predictor.default.svc.cluster.local" {
		t.Errorf("status.url on another cluster %q, want the Service's in-cluster URL", u)
	}
	ip := in.jsonpath("get", "service", "housing-predictor", "-o", "jsonpath={.spec.clusterIP}")
	got, err := inferREST("http://"+ip, "housing", want.Rows)
	if err == nil {
		err = sameNumbers(got, want.XGBv1)
	}
	if err != nil {
		t.Errorf("the operator's ModelService: %v", err)
	}
	logs := in.mustKubectl("-n", "skiff-system", "logs", "deployment/skiff-operator")
	if !strings.Contains(logs, "ML controllers running") {
		t.Errorf("operator logs:\n%s", logs)
	}
	in.mustKubectl("delete", "modelservice", "housing", "--wait", "--timeout=1m")
	in.mustKubectl("delete", "-k", "../../deploy", "--wait", "--timeout=2m")
}
