package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exampleFile reads a file of examples/, with replacements applied, into
// a temporary copy.
func exampleFile(t *testing.T, path string, replace ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../examples", path))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, []byte(strings.NewReplacer(replace...).Replace(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// seedModelAPI is what 003's image means: a copy of its folder, trained
// as the image's build did.
func seedModelAPI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"api.py", "train.py", "deployment.yaml", "service.yaml"} {
		data, err := os.ReadFile("../../examples/003-model-api/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("/usr/bin/python3", filepath.Join(dir, "train.py")).CombinedOutput(); err != nil {
		t.Fatalf("train.py: %v\n%s", err, out)
	}
	return dir
}

// TestExamples runs the walkthroughs of examples/ as their READMEs do.
func TestExamples(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import sklearn").Run(); err != nil {
		t.Fatalf("the examples need scikit-learn from Debian (apt-get install python3-sklearn): %v", err)
	}
	in := newInstance(t)
	ex := "../../examples/"
	modelAPI := seedModelAPI(t)
	in.writeImageMap(t, "images:\n- image: \"lpatruno/k8-model-api:*\"\n  dir: "+modelAPI+"\n"+
		"- image: \"skiff-model-server:*\"\n  command: [skiff, serve-model]\n")
	in.up("--write-kubeconfig=false")

	t.Run("001 training job and batch inference", func(t *testing.T) {
		models := t.TempDir()
		swap := []string{"/tmp/skiff-examples/models", models}
		in.mustKubectl("create", "configmap", "diabetes-code", "--from-file="+ex+"001-training-job/train.py", "--from-file="+ex+"001-training-job/batch_predict.py")
		in.mustKubectl("apply", "-f", exampleFile(t, "001-training-job/job.yaml", swap...))
		in.mustKubectl("wait", "--for=condition=complete", "job/train-diabetes", "--timeout=2m")
		if logs := in.mustKubectl("logs", "job/train-diabetes"); !strings.Contains(logs, `"r2": 0.3423`) {
			t.Errorf("training logs %q", logs)
		}
		if res := in.jsonpath("get", "pods", "-l", "job-name=train-diabetes", "-o", "jsonpath={.items[0].spec.containers[0].resources.limits.memory}"); res != "512Mi" {
			t.Errorf("training pod memory limit %q", res)
		}
		in.mustKubectl("apply", "-f", exampleFile(t, "001-training-job/cronjob.yaml", swap...))
		in.mustKubectl("create", "job", "--from=cronjob/batch-inference", "inference-now")
		in.mustKubectl("wait", "--for=condition=complete", "job/inference-now", "--timeout=2m")
		if logs := in.mustKubectl("logs", "job/inference-now"); !strings.Contains(logs, `"rows": 89`) {
			t.Errorf("batch inference logs %q", logs)
		}
		if data, err := os.ReadFile(filepath.Join(models, "predictions.csv")); err != nil || strings.Count(string(data), "\n") != 89 {
			t.Errorf("predictions.csv: %d lines, %v", strings.Count(string(data), "\n"), err)
		}
	})

	t.Run("002 hyperparameter search", func(t *testing.T) {
		in.mustKubectl("create", "configmap", "ridge-search-code", "--from-file="+ex+"002-hyperparameter-search/search.py")
		in.mustKubectl("apply", "-f", ex+"002-hyperparameter-search/job.yaml")
		in.mustKubectl("wait", "--for=condition=complete", "job/ridge-search", "--timeout=3m")
		logs := in.mustKubectl("logs", "-l", "job-name=ridge-search", "--tail=1")
		for _, trial := range []string{`"trial": 0, "alpha": 0.001, "cv_r2": 0.4823`, `"trial": 5, "alpha": 1.0, "cv_r2": 0.4102`} {
			if !strings.Contains(logs, trial) {
				t.Errorf("search results lack %s:\n%s", trial, logs)
			}
		}
		if n := strings.Count(logs, `"trial"`); n != 6 {
			t.Errorf("%d trials reported, want 6", n)
		}
	})

	t.Run("003 model API", func(t *testing.T) {
		in.mustKubectl("create", "-f", filepath.Join(modelAPI, "deployment.yaml"))
		in.mustKubectl("apply", "-f", filepath.Join(modelAPI, "service.yaml"))
		in.mustKubectl("rollout", "status", "deployment/k8-model-api", "--timeout=2m")
		ips := strings.Fields(in.jsonpath("get", "pods", "-l", "app=model-api", "-o", "jsonpath={.items[*].status.podIP}"))
		if len(ips) != 2 || ips[0] == ips[1] {
			t.Fatalf("replicas' pod IPs %q, want two different", ips)
		}
		// The seed's request, from another pod, as its walkthrough does,
		// to each replica's own address, both on port 5000.
		body := `{"CRIM": 15.02, "ZN": 0.0, "INDUS": 18.1, "CHAS": 0.0, "NOX": 0.614, "RM": 5.3, "AGE": 97.3, "DIS": 2.1, "RAD": 24.0, "TAX": 666.0, "PTRATIO": 20.2, "B": 349.48, "LSTAT": 24.9}`
		curl := "curl -s -H 'Content-Type: application/json' -X POST -d '" + body + "' "
		// (Not `run -i --rm`: a command this short can end before kubectl
		// attaches, and attach shows only what comes after it, as upstream.)
		inPod := func(name, script string) string {
			in.mustKubectl("run", name, "--image=python:3.6", "--restart=Never", "--command", "--", "sh", "-c", script)
			in.waitPhase(t, name, "Succeeded")
			return in.mustKubectl("logs", name)
		}
		out := inPod("client", curl+ips[0]+":5000/predict; echo; "+curl+ips[1]+":5000/predict; echo; "+
			"curl -s -X POST -d '{\"CRIM\": 1}' "+ips[0]+":5000/predict")
		if n := strings.Count(out, `{"prediction":31.55`); n != 2 {
			t.Errorf("predictions from the two replicas:\n%s", out)
		}
		if !strings.Contains(out, "missing features: ZN") {
			t.Errorf("a request missing features:\n%s", out)
		}

		// Through the Service, by its cluster DNS name: both replicas
		// answer within 100 requests.
		spread := inPod("spread", "getent hosts k8-model-api.default.svc.cluster.local; for i in $(seq 100); do "+
			"curl -s -o /dev/null -D - -X POST -d '"+body+"' -H 'Content-Type: application/json' http://k8-model-api.default.svc.cluster.local/predict; "+
			"done | grep -i '^x-served-by' | sort | uniq -c")
		clusterIP := in.jsonpath("get", "service", "k8-model-api", "-o", "jsonpath={.spec.clusterIP}")
		if !strings.Contains(spread, clusterIP+" ") {
			t.Errorf("k8-model-api.default.svc.cluster.local did not resolve to %s:\n%s", clusterIP, spread)
		}
		if n := strings.Count(spread, "k8-model-api-"); n != 2 {
			t.Errorf("replicas answering through the Service, want both:\n%s", spread)
		}

		// From the host: the LoadBalancer on the node's address and on
		// localhost.
		lb := in.jsonpath("get", "service", "k8-model-api-public", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
		if lb == "" {
			t.Fatal("the LoadBalancer Service got no address")
		}
		for _, addr := range []string{lb + ":5080", "localhost:5080"} {
			got, err := exec.Command("curl", "-s", "-m", "5", "-H", "Content-Type: application/json", "-X", "POST", "-d", body, addr+"/predict").CombinedOutput()
			if err != nil || !strings.Contains(string(got), `"prediction":31.55`) {
				t.Errorf("curl from the host to %s: %q %v", addr, got, err)
			}
		}

		// A rolling update under a steady stream of requests through the
		// Service loses none.
		stream := startRequests(clusterIP+":80", body)
		in.mustKubectl("rollout", "restart", "deployment/k8-model-api")
		in.mustKubectl("rollout", "status", "deployment/k8-model-api", "--timeout=3m")
		time.Sleep(2 * time.Second) // the old pods' last moments
		sent, failures := stream.stop()
		t.Logf("rolling update: %d requests through the Service, %d failed", sent, len(failures))
		if sent < 50 || len(failures) > 0 {
			t.Errorf("during the rollout: %d requests, %d failed: %v", sent, len(failures), failures[:min(len(failures), 5)])
		}
		in.mustKubectl("delete", "-f", filepath.Join(modelAPI, "service.yaml"), "-f", filepath.Join(modelAPI, "deployment.yaml"))
	})

	t.Run("005 model server", func(t *testing.T) { testModelServerExample(t, in, modelAPI) })

	t.Run("004 team namespace", func(t *testing.T) {
		in.mustKubectl("apply", "-f", ex+"004-team-namespace/team.yaml")
		// The API server's quota admission enforces a quota it has seen:
		// once the quota controller has counted it, the API server's cache
		// has it too (a create in the moment after the apply can pass).
		in.waitJSONPath(t, 30*time.Second, "10", "-n", "team-vision", "get", "resourcequota", "compute", "-o", "jsonpath={.status.hard.pods}")
		out, err := in.kubectl("create", "-f", ex+"004-team-namespace/too-big.yaml")
		if err == nil || !strings.Contains(out, "exceeded quota: compute") {
			t.Errorf("a pod beyond the quota: %v %s", err, out)
		}
		for _, c := range []struct{ args, want string }{
			{"create jobs -n team-vision --as alice", "yes"},
			{"create jobs -n default --as alice", "no"},
			{"delete resourcequota -n team-vision --as alice", "no"},
		} {
			got, _ := in.kubectl(append([]string{"auth", "can-i"}, strings.Fields(c.args)...)...)
			if strings.TrimSpace(got) != c.want {
				t.Errorf("can-i %s = %q, want %s", c.args, got, c.want)
			}
		}
		// alice's own kubeconfig, signed through the CSR API.
		alice := filepath.Join(t.TempDir(), "alice.kubeconfig")
		if out, err := in.skiff("kubeconfig", "--user", "alice", "--namespace", "team-vision", "--file", alice, "--kubeconfig", in.kubeconfig()); err != nil {
			t.Fatalf("skiff kubeconfig --user alice: %v\n%s", err, out)
		}
		if out, _ := in.kubectl("--kubeconfig", alice, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); out != "alice" {
			t.Errorf("alice's kubeconfig authenticates as %q", out)
		}
		in.mustKubectl("--kubeconfig", alice, "create", "job", "alice-job", "--image=busybox", "--", "true")
		if out, err := in.kubectl("--kubeconfig", alice, "-n", "default", "get", "pods"); err == nil || !strings.Contains(out, `User "alice" cannot list resource "pods"`) {
			t.Errorf("alice reads default's pods: %v %s", err, out)
		}
		if out, err := in.kubectl("--kubeconfig", alice, "delete", "resourcequota", "compute"); err == nil || !strings.Contains(out, "forbidden") {
			t.Errorf("alice deletes the quota: %v %s", err, out)
		}
		in.mustKubectl("-n", "team-vision", "run", "small", "--image=python:3.6", "--restart=Never", "--", "python3", "-c", "print('hi')")
		if res := in.jsonpath("-n", "team-vision", "get", "pod", "small", "-o", "jsonpath={.spec.containers[0].resources.requests.memory}"); res != "128Mi" {
			t.Errorf("LimitRange default request %q", res)
		}
		in.mustKubectl("create", "-f", ex+"004-team-namespace/gpu-train.yaml")
		if gpus := in.jsonpath("get", "nodes", "-o", `jsonpath={.items[0].status.capacity.nvidia\.com/gpu}`); gpus != "" {
			// A machine with GPUs: the pod gets one and runs.
			in.waitJSONPath(t, time.Minute, "Succeeded", "-n", "team-vision", "get", "pod", "gpu-train", "-o", "jsonpath={.status.phase}")
			return
		}
		eventually(t, 30*time.Second, "gpu-train unschedulable without GPUs", func() error {
			ev := in.mustKubectl("-n", "team-vision", "get", "events", "--field-selector", "involvedObject.name=gpu-train")
			if !strings.Contains(ev, "Insufficient nvidia.com/gpu") {
				return os.ErrNotExist
			}
			return nil
		})
		in.mustKubectl("delete", "namespace", "team-vision", "--timeout=2m")
	})
}
