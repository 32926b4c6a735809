package e2e

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
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
	got, err := inferREST(in.serviceURL(t, "housing"), "housing", want.Rows)
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

// TestGatewayOnAnotherCluster deploys skiff's operator with skiff's own
// gateway from deploy/gateway onto a cluster that has neither, and serves
// a ModelService through the gateway's Service.
func TestGatewayOnAnotherCluster(t *testing.T) {
	models := t.TempDir()
	want := trainModels(t, models)
	in := newInstance(t)
	in.up("--write-kubeconfig=false", "--ml-controllers=false")
	if out, err := in.kubectl("get", "crd", "httproutes.gateway.networking.k8s.io"); err == nil {
		t.Fatalf("with --ml-controllers=false the Gateway API CRDs are installed:\n%s", out)
	}
	// Server-side: the HTTPRoute CRD is too large for client-side apply's annotation.
	in.mustKubectl("apply", "--server-side", "-k", "../../deploy/gateway")
	t.Cleanup(func() { _, _ = in.kubectl("delete", "-k", "../../deploy/gateway", "--wait", "--timeout=2m") })
	for _, d := range []string{"skiff-operator", "skiff-gateway"} {
		in.mustKubectl("-n", "skiff-system", "rollout", "status", "deployment/"+d, "--timeout=2m")
	}
	in.waitJSONPath(t, time.Minute, "True", "-n", "skiff-system", "get", "gateway", "skiff", "-o", `jsonpath={.status.conditions[?(@.type=="Programmed")].status}`)
	svc := in.jsonpath("-n", "skiff-system", "get", "service", "skiff-gateway", "-o", "jsonpath={.spec.clusterIP}")

	// The Gateway's address is the Service's load balancer IP.
	var lb string
	eventually(t, time.Minute, "the gateway's Service has a load balancer IP", func() error {
		if lb = in.jsonpath("-n", "skiff-system", "get", "service", "skiff-gateway", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"); lb == "" {
			return fmt.Errorf("none yet")
		}
		return nil
	})

	in.apply(t, modelService("housing", "xgboost", "file://"+models+"/xgb-v1", ""))
	in.mustKubectl("wait", "modelservice/housing", "--for=condition=Ready", "--timeout=2m")
	base := fmt.Sprintf("http://%s:8080/serving/default/housing", lb)
	in.waitJSONPath(t, time.Minute, base, "get", "modelservice", "housing", "-o", "jsonpath={.status.url}")
	eventually(t, 30*time.Second, "the ModelService answers through the gateway's Service", func() error {
		got, err := inferREST(base, "housing", want.Rows)
		if err == nil {
			err = sameNumbers(got, want.XGBv1)
		}
		return err
	})
	resp, err := httpClient.Get(fmt.Sprintf("http://%s:10252/metrics", svc))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(data), `skiff_gateway_requests_total{backend="default/housing-00001:80",code="200",role="primary",route="httproute/default/housing"}`) {
		t.Errorf("the gateway's metrics do not count the ModelService's requests:\n%s", data)
	}
	in.mustKubectl("delete", "modelservice", "housing", "--wait", "--timeout=1m")
}
