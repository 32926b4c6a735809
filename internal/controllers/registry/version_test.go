package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestRegisterVersion(t *testing.T) {
	h := newHarness(t, newModel("housing").obj(), newVersion("housing-1", "housing", 0).number(1).obj())
	h.reconcileVersion("housing-1")

	v := h.mv("housing-1")
	if got := readyOf(v.Status.Conditions); got != "True "+ReasonRegistered {
		t.Fatalf("Ready = %s (%+v), want True Registered", got, v.Status.Conditions)
	}
	digest := fileDigest(t, testdataPath("logistic.json"))
	wantURI := "file://" + filepath.Join(h.store.Root, "sha256", digest, "model.json")
	got := mlv1.ModelVersionStatus{Version: v.Status.Version, ArtifactURI: v.Status.ArtifactURI, Checksum: v.Status.Checksum}
	want := mlv1.ModelVersionStatus{Version: 1, ArtifactURI: wantURI, Checksum: "sha256:" + digest}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if fileDigest(t, strings.TrimPrefix(wantURI, "file://")) != digest {
		t.Errorf("the stored copy is not the source")
	}
	wantSig := &mlv1.ModelSignature{
		Inputs: []mlv1.TensorSpec{{Name: "rooms", Datatype: "FP64", Shape: []int64{-1}}, {Name: "age", Datatype: "FP64", Shape: []int64{-1}}, {Name: "income", Datatype: "FP64", Shape: []int64{-1}}},
	}
	if diff := cmp.Diff(wantSig.Inputs, v.Spec.Signature.Inputs); diff != "" {
		t.Errorf("signature inputs (-want +got):\n%s", diff)
	}
	if len(v.Spec.Signature.Outputs) == 0 {
		t.Errorf("signature has no outputs")
	}
	if c := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady); c.ObservedGeneration != v.Generation || v.Status.ObservedGeneration != v.Generation {
		t.Errorf("observed generation %d/%d, want %d", c.ObservedGeneration, v.Status.ObservedGeneration, v.Generation)
	}

	// Settled: a second pass writes nothing.
	rv := v.ResourceVersion
	h.reconcileVersion("housing-1")
	if h.mv("housing-1").ResourceVersion != rv {
		t.Errorf("a registered version was written again")
	}
}

func TestRegisterWaitsForNumber(t *testing.T) {
	h := newHarness(t, newModel("housing").obj(), newVersion("housing-1", "housing", 0).obj())
	h.reconcileVersion("housing-1")
	v := h.mv("housing-1")
	if got := readyOf(v.Status.Conditions); got != "False "+ReasonAwaitingNumber || v.Status.Checksum == "" {
		t.Fatalf("before numbering: Ready %s, checksum %q; want AwaitingVersionNumber and stored", got, v.Status.Checksum)
	}
	h.reconcileModel("housing")
	h.reconcileVersion("housing-1")
	if v := h.mv("housing-1"); readyOf(v.Status.Conditions) != "True "+ReasonRegistered || v.Status.Version != 1 {
		t.Errorf("after numbering: Ready %s, version %d", readyOf(v.Status.Conditions), v.Status.Version)
	}
	// The Model sees it Ready, and an alias to it is fine.
	h.updateModel("housing", func(m *mlv1.Model) { m.Spec.Aliases = map[string]int64{"champion": 1} })
	h.reconcileModel("housing")
	if got := readyOf(h.model("housing").Status.Conditions); got != "True "+ReasonAliasesReady {
		t.Errorf("model Ready = %s", got)
	}
}

func TestRegisterRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		model     bool
		source    string
		want      string
		message   string
		requeue   bool
		wantFinal bool
	}{
		{name: "no model", source: "file://" + testdataPath("logistic.json"), want: ReasonModelNotFound, message: "model housing does not exist"},
		{name: "broken file", model: true, source: "file://" + testdataPath("broken.json"), want: ReasonLoadFailed, message: "does not load as a sklearn model", wantFinal: true},
		{name: "missing file", model: true, source: "file:///nonexistent/model.json", want: ReasonSourceUnavailable, message: "/nonexistent/model.json", requeue: true},
		{name: "s3 without endpoint", model: true, source: "s3://models/housing/model.json", want: ReasonSourceUnavailable, message: "no S3 endpoint", requeue: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, newVersion("housing-1", "housing", 0).number(1).source(tc.source).obj())
			if tc.model {
				h.create(newModel("housing").obj())
			}
			res := h.reconcileVersion("housing-1")
			v := h.mv("housing-1")
			c := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady)
			if c == nil || c.Status != "False" || c.Reason != tc.want || !strings.Contains(c.Message, tc.message) {
				t.Fatalf("Ready = %+v, want False %s with %q", c, tc.want, tc.message)
			}
			if (res.RequeueAfter > 0) != tc.requeue {
				t.Errorf("requeue after %v, want a retry: %v", res.RequeueAfter, tc.requeue)
			}
			if v.Status.ArtifactURI != "" {
				t.Errorf("artifact %s stored for a version that failed", v.Status.ArtifactURI)
			}
			if entries, _ := os.ReadDir(filepath.Join(h.store.Root, "sha256")); len(entries) != 0 {
				t.Errorf("the store holds %d artifacts, want none", len(entries))
			}
			if tc.wantFinal && !h.version.settled(v) {
				t.Errorf("a file that does not load is tried again")
			}
		})
	}
}

// After a crash between storing the file and writing its signature, the
// signature is read from the registry's copy.
func TestSignatureAfterCrash(t *testing.T) {
	src := filepath.Join(t.TempDir(), "model.json")
	data, err := os.ReadFile(testdataPath("logistic.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, newModel("housing").obj(), newVersion("housing-1", "housing", 0).number(1).source("file://"+src).obj())
	h.reconcileVersion("housing-1")
	v := h.mv("housing-1")
	v.Spec.Signature = nil
	v.Generation++
	if err := h.c.Update(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	// The source is gone: only the registry's copy is left to read.
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	h.reconcileVersion("housing-1")
	v = h.mv("housing-1")
	if v.Spec.Signature == nil || len(v.Spec.Signature.Inputs) != 3 {
		t.Fatalf("signature = %+v, want the three columns", v.Spec.Signature)
	}
	if readyOf(v.Status.Conditions) != "True "+ReasonRegistered {
		t.Errorf("Ready = %s", readyOf(v.Status.Conditions))
	}
}
