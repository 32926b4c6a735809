package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

func TestModelHistory(t *testing.T) {
	at := func(min int) metav1.Time { return metav1.NewTime(time.Date(2026, 12, 1, 12, min, 0, 0, time.UTC)) }
	version := func(name string, n int64, min int, ready bool) mlv1.ModelVersion {
		v := mlv1.ModelVersion{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(min),
			Labels: map[string]string{mlv1.LabelModelVersion: string(rune('0' + n))}},
			Spec: mlv1.ModelVersionSpec{Model: "housing", Source: mlv1.ModelVersionSource{StorageURI: "file:///m/" + name}}}
		status := metav1.ConditionTrue
		if !ready {
			status = metav1.ConditionFalse
		}
		meta.SetStatusCondition(&v.Status.Conditions, metav1.Condition{Type: mlv1.ConditionReady, Status: status, Reason: "LoadFailed", Message: "no trees"})
		return v
	}
	trained := version("housing-b", 2, 5, true)
	trained.Spec.RunRef = &mlv1.RunReference{Kind: "Trial", Name: "search-x7"}
	trained.Spec.Parameters = []mlv1.ParameterAssignment{{Name: "lr", Value: "0.1"}}
	trained.Spec.Metrics = []mlv1.VersionMetric{{Name: "rmse", Value: "3.2"}}
	m := &mlv1.Model{ObjectMeta: metav1.ObjectMeta{Name: "housing"}, Status: mlv1.RegisteredModelStatus{AliasHistory: []mlv1.AliasMove{
		{Alias: "champion", To: 1, User: "bob", Time: at(2)},
		{Alias: "champion", From: 1, To: 2, User: "bob", Time: at(6)},
	}}}
	served := mlv1.ModelService{ObjectMeta: metav1.ObjectMeta{Name: "housing"},
		Spec:   mlv1.ModelServiceSpec{Predictor: mlv1.PredictorSpec{Model: &mlv1.ModelSpec{StorageURI: "models:/housing@champion"}}},
		Status: mlv1.ModelServiceStatus{ModelVersion: &mlv1.ServedModelVersion{Version: 2}, Revisions: []mlv1.RevisionStatus{{Name: "housing-00002", ModelVersion: "housing/2"}}}}
	other := mlv1.ModelService{ObjectMeta: metav1.ObjectMeta{Name: "houses"},
		Spec: mlv1.ModelServiceSpec{Predictor: mlv1.PredictorSpec{Model: &mlv1.ModelSpec{StorageURI: "models:/housing-old@champion"}}}}

	h := modelHistory(m, []mlv1.ModelVersion{trained, version("housing-a", 1, 1, true), version("housing-c", 3, 7, false)}, []mlv1.ModelService{served, other})
	want := &ModelHistory{Model: "housing",
		Events: []HistoryEvent{
			{Time: at(1).Time, Event: "Registered", Version: 1, Details: "housing-a from file:///m/housing-a"},
			{Time: at(2).Time, Event: "AliasMoved", Version: 1, Details: "alias champion set to version 1 by bob"},
			{Time: at(5).Time, Event: "Registered", Version: 2, Details: "housing-b from file:///m/housing-b; run trial/search-x7; parameters lr=0.1; metrics rmse=3.2"},
			{Time: at(6).Time, Event: "AliasMoved", Version: 2, Details: "alias champion moved from version 1 to 2 by bob"},
			{Time: at(7).Time, Event: "Registered", Version: 3, Details: "housing-c from file:///m/housing-c; not Ready: LoadFailed: no trees"},
		},
		Serving: []ServingEntry{{ModelService: "housing", URI: "models:/housing@champion", Version: 2, Revisions: []string{"housing-00002=housing/2"}}},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	var out bytes.Buffer
	if err := printHistory(&out, h); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"TIME", "AliasMoved", "alias champion moved from version 1 to 2 by bob", "SERVED BY", "housing-00002=housing/2"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("printed history lacks %q:\n%s", s, out.String())
		}
	}
}
