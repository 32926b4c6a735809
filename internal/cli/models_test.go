package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/cobra"
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

func TestParseModelsVerbs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want any
	}{
		{
			name: "push",
			args: []string{"models", "push", "forest.pkl", "--name", "housing", "--alias", "challenger", "-n", "team", "--dry-run", "-o", "yaml"},
			want: ModelsPushOptions{ModelsOptions: ModelsOptions{Namespace: "team", Output: "yaml"}, Path: "forest.pkl", Name: "housing", Alias: "challenger",
				Python: "python3", DryRun: true, Timeout: 5 * time.Minute},
		},
		{
			name: "alias",
			args: []string{"models", "alias", "housing", "champion", "4", "--kubeconfig", "/k"},
			want: ModelsAliasOptions{ModelsOptions: ModelsOptions{Kubeconfig: "/k"}, Model: "housing", Alias: "champion", VersionArg: "4"},
		},
		{
			name: "alias delete",
			args: []string{"models", "alias", "housing", "challenger", "--delete"},
			want: ModelsAliasOptions{Model: "housing", Alias: "challenger", Delete: true},
		},
		{
			name: "history",
			args: []string{"models", "history", "housing", "-o", "json"},
			want: "history " + "housing json",
		},
		{
			name: "list",
			args: []string{"models", "list"},
			want: "list  ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, _, _ := testGlobals(t)
			var got any
			runners := &ModelsRunners{
				Push:  func(o *ModelsPushOptions) error { got = *o; return nil },
				Alias: func(o *ModelsAliasOptions) error { got = *o; return nil },
				Show:  func(verb string, o *ModelsShowOptions) error { got = verb + " " + o.Model + " " + o.Output; return nil },
			}
			if err := execute(t, g, tt.args, func(root *cobra.Command) { swap(root, NewCmdModels(g, runners)) }); err != nil {
				t.Fatalf("skiff %v: %v", tt.args, err)
			}
			ignore := cmpopts.IgnoreUnexported(ModelsOptions{})
			if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
	g, _, _ := testGlobals(t)
	err := execute(t, g, []string{"models", "alias", "housing", "champion", "four"}, func(*cobra.Command) {})
	if err == nil || !strings.Contains(err.Error(), `version "four": give a version number`) {
		t.Errorf("a version that is not a number: %v", err)
	}
}
