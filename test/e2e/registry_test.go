package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestModelRegistry registers two versions of a model and a broken one,
// serves models:/housing@champion, releases version 2 by moving the alias
// and rolls back by moving it back; a move to the broken version is
// refused, RBAC tells who may register from who may release, and the
// history names who moved what.
func TestModelRegistry(t *testing.T) {
	models := t.TempDir()
	want := trainModels(t, models)
	if err := os.WriteFile(filepath.Join(models, "broken.json"), []byte(`{"learner": {`), 0o644); err != nil {
		t.Fatal(err)
	}
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	swap := []string{"/tmp/skiff-examples/models", models}

	in.mustKubectl("apply", "-f", exampleFile(t, "006-model-registry/roles.yaml"))
	t.Run("a data scientist registers versions numbered in order", func(t *testing.T) {
		in.mustKubectl("apply", "-f", exampleFile(t, "006-model-registry/model.yaml", swap...))
		for name, n := range map[string]string{"housing-a": "1", "housing-b": "2"} {
			in.mustKubectl("wait", "mv/"+name, "--for=condition=Ready", "--timeout=1m")
			if got := in.jsonpath("get", "mv", name, "-o", "jsonpath={.status.version}"); got != n {
				t.Errorf("%s is version %s, want %s", name, got, n)
			}
		}
		uri := in.jsonpath("get", "mv", "housing-a", "-o", "jsonpath={.status.artifactUri}")
		if !strings.HasPrefix(uri, "file://"+in.dataDir+"/registry/sha256/") {
			t.Errorf("artifactUri %q is not in the registry of the data dir", uri)
		}
		if got := in.jsonpath("get", "mv", "housing-a", "-o", "jsonpath={.spec.signature.inputs[0].datatype}"); got != "FP64" {
			t.Errorf("signature not filled in: input datatype %q", got)
		}
		// A file that does not load: Ready False, with the loader's words.
		in.mustKubectl("--as=alice", "apply", "-f", writeManifest(t, registryVersion("housing-broken", "file://"+models+"/broken.json")))
		in.waitJSONPath(t, time.Minute, "False LoadFailed", "get", "mv", "housing-broken", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}`)
		table := in.mustKubectl("get", "mv", "-l", "ml.skiff.dev/model=housing")
		for _, col := range []string{"VERSION", "READY", "housing-broken", "LoadFailed"} {
			if !strings.Contains(table, col) {
				t.Errorf("kubectl get mv lacks %s:\n%s", col, table)
			}
		}
		if out, err := in.kubectl("--as=alice", "patch", "model", "housing", "--type=merge", "-p", `{"spec":{"aliases":{"champion":1}}}`); err == nil {
			t.Errorf("a data scientist moved an alias:\n%s", out)
		}
	})

	t.Run("the ModelService serves the champion and follows its moves", func(t *testing.T) {
		in.mustKubectl("--as=bob", "patch", "model", "housing", "--type=merge", "-p", `{"spec":{"aliases":{"champion":1}}}`)
		in.mustKubectl("apply", "-f", exampleFile(t, "006-model-registry/modelservice.yaml"))
		base := in.msURL(t, "housing")
		expectPredictions(t, base, want.Rows, want.XGBv1)
		in.waitJSONPath(t, 30*time.Second, "housing/1 housing/1", "get", "ms", "housing", "-o", "jsonpath={.status.modelVersion.model}/{.status.modelVersion.version} {.status.revisions[0].modelVersion}")

		in.mustKubectl("--as=bob", "patch", "model", "housing", "--type=merge", "-p", `{"spec":{"aliases":{"champion":2}}}`)
		// The move is a canary, as the ModelService's rollout says: half
		// the requests first, then all.
		waitTraffic(t, in, "housing", "housing-00002=50%")
		waitTraffic(t, in, "housing", "housing-00002=100%")
		expectPredictions(t, in.msURL(t, "housing"), want.Rows, want.XGBv2)

		// The broken version: refused at admission, with the reason.
		out, err := in.kubectl("--as=bob", "patch", "model", "housing", "--type=merge", "-p", `{"spec":{"aliases":{"champion":3}}}`)
		if err == nil || !strings.Contains(out, "cannot point at version 3 (housing-broken): it is not Ready (LoadFailed") {
			t.Errorf("moving champion to the broken version: %v\n%s", err, out)
		}

		// A number the registry never gave: refused, naming the last one.
		out, err = in.kubectl("--as=bob", "patch", "model", "housing", "--type=merge", "-p", `{"spec":{"aliases":{"champion":30}}}`)
		if err == nil || !strings.Contains(out, "cannot point at version 30: the model has no such version (the last one registered is 3") {
			t.Errorf("moving champion to version 30: %v\n%s", err, out)
		}

		// Roll back: the alias goes back, and so does what is served.
		in.mustKubectl("--as=bob", "patch", "model", "housing", "--type=merge", "-p", `{"spec":{"aliases":{"champion":1}}}`)
		waitTraffic(t, in, "housing", "housing-00003=50%")
		waitTraffic(t, in, "housing", "housing-00003=100%")
		expectPredictions(t, in.msURL(t, "housing"), want.Rows, want.XGBv1)
	})

	t.Run("the history names each move and who made it", func(t *testing.T) {
		in.waitJSONPath(t, 30*time.Second, "champion:->1:bob champion:1->2:bob champion:2->1:bob", "get", "model", "housing", "-o",
			`jsonpath={range .status.aliasHistory[*]}{.alias}:{.from}->{.to}:{.user} {end}`)
		history, err := in.skiff("models", "history", "housing", "--kubeconfig", in.kubeconfig())
		for _, line := range []string{"Registered", "housing-a from file://" + models + "/xgb-v1", "alias champion moved from version 1 to 2 by bob", "alias champion moved from version 2 to 1 by bob", "not Ready: LoadFailed", "SERVED BY", "models:/housing@champion"} {
			if err != nil || !strings.Contains(history, line) {
				t.Errorf("skiff models history lacks %q (%v):\n%s", line, err, history)
			}
		}
		table := in.mustKubectl("get", "models")
		for _, col := range []string{"LATEST", "VERSIONS", "ALIASES", "champion=1", "True"} {
			if !strings.Contains(table, col) {
				t.Errorf("kubectl get models lacks %s:\n%s", col, table)
			}
		}
	})

	t.Run("skiff models push exports and registers a pickle and sets its alias", func(t *testing.T) {
		out, err := in.skiff("models", "push", filepath.Join(models, "forest.pkl"), "--name", "forest", "--alias", "champion", "--python", "/usr/bin/python3", "--kubeconfig", in.kubeconfig())
		if err != nil || !strings.Contains(out, "version 1 of model forest") || !strings.Contains(out, "alias champion -> version 1") {
			t.Fatalf("skiff models push: %v\n%s", err, out)
		}
		if got := in.jsonpath("get", "mv", "-l", "ml.skiff.dev/model=forest", "-o", "jsonpath={.items[0].spec.modelFormat.name} {.items[0].status.version}"); got != "sklearn 1" {
			t.Errorf("the pushed version: %q", got)
		}
		versions, err := in.skiff("models", "versions", "forest", "--kubeconfig", in.kubeconfig())
		if err != nil || !strings.Contains(versions, "champion") || !strings.Contains(versions, "sklearn") {
			t.Errorf("skiff models versions forest: %v\n%s", err, versions)
		}
		// A broken file: the push fails with the loader's reason.
		out, err = in.skiff("models", "push", filepath.Join(models, "broken.json"), "--name", "forest", "--format", "xgboost", "--kubeconfig", in.kubeconfig())
		if err == nil || !strings.Contains(out, "LoadFailed") {
			t.Errorf("pushing a broken file: %v\n%s", err, out)
		}
		list, err := in.skiff("models", "list", "-o", "json", "--kubeconfig", in.kubeconfig())
		if err != nil || !strings.Contains(list, `"aliasSummary": "champion=1"`) {
			t.Errorf("skiff models list -o json: %v\n%s", err, list)
		}
	})

	t.Run("an Experiment registers its best trial and the lineage reads back to it", func(t *testing.T) { experimentRegisters(t, in) })
}

// waitTraffic waits for a ModelService's traffic summary to start with
// the revision's share.
func waitTraffic(t *testing.T, in *instance, ms, share string) {
	t.Helper()
	eventually(t, 2*time.Minute, ms+"'s traffic gives "+share, func() error {
		if got := in.jsonpath("get", "ms", ms, "-o", "jsonpath={.status.trafficSummary}"); !strings.HasPrefix(got, share) {
			return fmt.Errorf("traffic %q", got)
		}
		return nil
	})
}

func registryVersion(name, uri string) string {
	return fmt.Sprintf(`apiVersion: ml.skiff.dev/v1alpha1
kind: ModelVersion
metadata: {name: %s}
spec:
  model: housing
  modelFormat: {name: xgboost}
  source: {storageUri: "%s"}
`, name, uri)
}

func writeManifest(t *testing.T, manifest string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func expectPredictions(t *testing.T, base string, rows [][]float64, want []float64) {
	t.Helper()
	got, err := inferREST(base, "housing", rows)
	if err == nil {
		err = sameNumbers(got, want)
	}
	if err != nil {
		t.Errorf("predictions at %s: %v", base, err)
	}
}

// TestRegistrySurvivesKill9: skiff killed while versions are being
// numbered and copied, then started again, registers each version once:
// numbers distinct (none given twice), every version Ready, one stored copy per
// distinct file, and the alias moved in the same breath lands.
func TestRegistrySurvivesKill9(t *testing.T) {
	models := t.TempDir()
	trainModels(t, models)
	in := newInstance(t)
	in.up("--write-kubeconfig=false", "--gateway-port=0")
	manifest := "apiVersion: ml.skiff.dev/v1alpha1\nkind: Model\nmetadata: {name: housing}\n"
	files := []string{"xgb-v1", "xgb-v2", "xgb-v1", "xgb-v2", "xgb-v1", "xgb-v2"}
	for i, f := range files {
		manifest += "---\n" + registryVersion(fmt.Sprintf("housing-%d", i), "file://"+models+"/"+f)
	}
	in.apply(t, manifest)
	in.waitJSONPath(t, time.Minute, "True", "get", "mv", "housing-0", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	// Mid-way: the rest are being numbered and copied.
	in.mustKubectl("patch", "model", "housing", "--type=merge", "-p", `{"spec":{"aliases":{"champion":1}}}`)
	in.forceKill()
	in.up("--write-kubeconfig=false", "--gateway-port=0")

	for i := range files {
		in.mustKubectl("wait", fmt.Sprintf("mv/housing-%d", i), "--for=condition=Ready", "--timeout=1m")
	}
	numbers := strings.Fields(in.jsonpath("get", "mv", "-l", "ml.skiff.dev/model=housing", "-o", "jsonpath={.items[*].status.version}"))
	seen := map[string]bool{}
	for _, n := range numbers {
		seen[n] = true
	}
	if len(numbers) != len(files) || len(seen) != len(files) {
		t.Errorf("version numbers %v: want %d distinct", numbers, len(files))
	}
	if got := in.jsonpath("get", "model", "housing", "-o", "jsonpath={.status.versionCount} {.spec.aliases.champion}"); got != fmt.Sprintf("%d 1", len(files)) {
		t.Errorf("model housing: versionCount and champion %q", got)
	}
	stored, err := filepath.Glob(filepath.Join(in.dataDir, "registry", "sha256", "*", "model.json"))
	if err != nil || len(stored) != 2 {
		t.Errorf("stored copies %v (%v), want one per distinct file (2)", stored, err)
	}
}
