package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// boundClaim is claim ns/<name> bound to a local volume in folder.
func boundClaim(name, folder string) []client.Object {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + name},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: folder}}}}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: pv.Name}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
	return []client.Object{pv, claim}
}

// copyFile puts the testdata model at dir/name.
func copyFile(t *testing.T, from, dir, name string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRegisterFromClaim: pvc://<claim>/<folder> reads model.json in that
// folder of the claim's volume (an Experiment's trial output), or of the
// claim mounted under ClaimsDir; a claim not bound yet is retried.
func TestRegisterFromClaim(t *testing.T) {
	volume := t.TempDir()
	copyFile(t, testdataPath("logistic.json"), filepath.Join(volume, "tune-3"), "model.json")
	objs := append(boundClaim("tune-output", volume), newModel("housing").obj(),
		newVersion("from-claim", "housing", 0).number(1).source("pvc://tune-output/tune-3").obj(),
		newVersion("unbound", "housing", 1).number(2).source("pvc://pending/x").obj(),
		newVersion("mounted", "housing", 2).number(3).source("pvc://elsewhere/m.json").obj())
	objs = append(objs, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pending"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}})
	h := newHarness(t, objs...)
	claims := t.TempDir()
	copyFile(t, testdataPath("logistic.json"), filepath.Join(claims, "ns", "elsewhere"), "m.json")
	h.version.Options.ClaimsDir = claims

	h.reconcileVersion("from-claim")
	if got := readyOf(h.mv("from-claim").Status.Conditions); got != "True "+ReasonRegistered {
		t.Errorf("from the claim's volume: Ready = %s (%+v)", got, h.mv("from-claim").Status.Conditions)
	}
	h.reconcileVersion("mounted")
	if got := readyOf(h.mv("mounted").Status.Conditions); got != "True "+ReasonRegistered {
		t.Errorf("from the claim mounted in ClaimsDir: Ready = %s (%+v)", got, h.mv("mounted").Status.Conditions)
	}
	res := h.reconcileVersion("unbound")
	v := h.mv("unbound")
	if got := readyOf(v.Status.Conditions); got != "False "+ReasonSourceUnavailable || res.RequeueAfter == 0 {
		t.Errorf("an unbound claim: Ready = %s, requeue %s; want False %s, retried", got, res.RequeueAfter, ReasonSourceUnavailable)
	}
	if msg := conditionMessage(v); !strings.Contains(msg, "persistentvolumeclaim ns/pending is not bound") {
		t.Errorf("message %q should say the claim is not bound", msg)
	}
}

func conditionMessage(v *mlv1.ModelVersion) string {
	for _, c := range v.Status.Conditions {
		if c.Type == mlv1.ConditionReady {
			return c.Message
		}
	}
	return ""
}
