package modelservice

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// registered is version n of model housing, Ready (or not) with its file
// at /registry/<n>/model.json.
func registered(n int64, ready bool) *mlv1.ModelVersion {
	status := metav1.ConditionTrue
	if !ready {
		status = metav1.ConditionFalse
	}
	num := strconv.FormatInt(n, 10)
	v := &mlv1.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "housing-" + num, Labels: map[string]string{mlv1.LabelModel: "housing", mlv1.LabelModelVersion: num}},
		Spec:       mlv1.ModelVersionSpec{Model: "housing", ModelFormat: mlv1.ModelFormat{Name: "sklearn"}},
		Status:     mlv1.ModelVersionStatus{Version: n, Checksum: "sha256:" + num},
	}
	if ready {
		v.Status.ArtifactURI = "file:///registry/" + num + "/model.json"
	}
	meta.SetStatusCondition(&v.Status.Conditions, metav1.Condition{Type: mlv1.ConditionReady, Status: status, Reason: "LoadFailed", Message: "no trees"})
	return v
}

func housingModel(champion int64) *mlv1.Model {
	return &mlv1.Model{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "housing"}, Spec: mlv1.RegisteredModelSpec{Aliases: map[string]int64{"champion": champion}}}
}

func TestParseModelsURI(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want registryRef
		ok   bool
	}{
		{uri: "models:/housing@champion", want: registryRef{model: "housing", alias: "champion"}, ok: true},
		{uri: "models:/housing/12", want: registryRef{model: "housing", version: 12}, ok: true},
		{uri: "models:/housing/0"},
		{uri: "models:/housing/latest"},
		{uri: "models:/@champion"},
		{uri: "file:///srv/model.json"},
	} {
		got, ok := parseModelsURI(tc.uri)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseModelsURI(%q) = %+v, %v; want %+v, %v", tc.uri, got, ok, tc.want, tc.ok)
		}
	}
}

// The latest revision serves what the alias points at; moving the alias is
// a new revision; a version that is not Ready is never served.
func TestServeFromRegistry(t *testing.T) {
	ms := newMS("housing").obj()
	ms.Spec.Predictor.Model.StorageURI = "models:/housing@champion"
	ms.Spec.Predictor.Model.ModelFormat.Name = "xgboost" // the version's format wins
	h := newHarness(t, ms, housingModel(1), registered(1, true), registered(2, true), registered(3, false))
	h.reconcile("housing")

	pod := h.deployment("housing-00001").Spec.Template
	if got := pod.Spec.Volumes[0].HostPath.Path; got != "/registry/1/model.json" {
		t.Errorf("revision 1 mounts %s, want version 1's artifact", got)
	}
	if args := strings.Join(pod.Spec.Containers[0].Args, " "); !strings.Contains(args, "--model-format sklearn") {
		t.Errorf("model server args %q do not serve the version's format", args)
	}
	if got := pod.Annotations[AnnotationModelVersion]; got != "housing/1" {
		t.Errorf("revision 1's model version annotation = %q", got)
	}
	want := &mlv1.ServedModelVersion{Model: "housing", Version: 1, Alias: "champion", Name: "housing-1", Checksum: "sha256:1"}
	if diff := cmp.Diff(want, h.ms("housing").Status.ModelVersion); diff != "" {
		t.Errorf("status.modelVersion (-want +got):\n%s", diff)
	}

	setAlias := func(n int64) {
		var m mlv1.Model
		if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "housing"}, &m); err != nil {
			t.Fatal(err)
		}
		m.Spec.Aliases["champion"] = n
		if err := h.c.Update(context.Background(), &m); err != nil {
			t.Fatal(err)
		}
	}
	setAlias(2)
	h.reconcile("housing")
	if got := h.deployment("housing-00002").Spec.Template.Spec.Volumes[0].HostPath.Path; got != "/registry/2/model.json" {
		t.Errorf("after the move, revision 2 mounts %s", got)
	}
	if v := h.ms("housing").Status.ModelVersion; v == nil || v.Version != 2 {
		t.Errorf("status.modelVersion = %+v, want version 2", v)
	}

	// Version 3 did not load: refused, and what serves stays.
	setAlias(3)
	h.reconcile("housing")
	got := h.ms("housing")
	c := meta.FindStatusCondition(got.Status.Conditions, mlv1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonModelUnresolved || !strings.Contains(c.Message, "version 3 of model housing (housing-3) is not Ready: LoadFailed: no trees") {
		t.Errorf("Ready = %+v, want False %s naming version 3 and why", c, ReasonModelUnresolved)
	}
	var third appsv1.Deployment
	err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "housing-00003"}, &third)
	if !apierrors.IsNotFound(err) {
		t.Errorf("a revision for the broken version exists (%v)", err)
	}
	h.deployment("housing-00002") // still there
}

func TestUnresolvedModelURIs(t *testing.T) {
	for _, tc := range []struct {
		name, uri, want string
	}{
		{name: "no model", uri: "models:/iris@champion", want: "model iris does not exist in namespace ns"},
		{name: "no alias", uri: "models:/housing@challenger", want: "model housing has no alias challenger"},
		{name: "no version", uri: "models:/housing/9", want: "model housing has no version 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := newMS("svc").obj()
			ms.Spec.Predictor.Model.StorageURI = tc.uri
			h := newHarness(t, ms, housingModel(1), registered(1, true))
			h.reconcile("svc")
			c := meta.FindStatusCondition(h.ms("svc").Status.Conditions, mlv1.ConditionReady)
			if c == nil || c.Reason != ReasonModelUnresolved || !strings.Contains(c.Message, tc.want) {
				t.Errorf("Ready = %+v, want %s with %q", c, ReasonModelUnresolved, tc.want)
			}
		})
	}
}
