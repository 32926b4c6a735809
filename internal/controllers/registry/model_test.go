package registry

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

func numbers(h *harness, names ...string) map[string]int64 {
	out := map[string]int64{}
	for _, n := range names {
		out[n] = VersionNumber(h.mv(n))
	}
	return out
}

func TestVersionsNumberedInCreationOrder(t *testing.T) {
	h := newHarness(t, newModel("housing").obj(),
		// Listed by name, created in another order.
		newVersion("a", "housing", 3).obj(), newVersion("b", "housing", 1).obj(), newVersion("c", "housing", 2).obj(),
		newVersion("other", "iris", 0).obj())
	h.reconcileModel("housing")

	want := map[string]int64{"a": 3, "b": 1, "c": 2, "other": 0}
	if diff := cmp.Diff(want, numbers(h, "a", "b", "c", "other")); diff != "" {
		t.Errorf("version numbers (-want +got):\n%s", diff)
	}
	v := h.mv("b")
	if v.Labels[LabelModel] != "housing" || len(v.OwnerReferences) != 1 || v.OwnerReferences[0].Kind != "Model" {
		t.Errorf("version b: labels %v, owners %v; want the model label and the Model as owner", v.Labels, v.OwnerReferences)
	}
	m := h.model("housing")
	got := [3]int64{m.Status.LastAssignedVersion, m.Status.LatestVersion, int64(m.Status.VersionCount)}
	if got != [3]int64{3, 3, 3} {
		t.Errorf("status last assigned, latest, count = %v, want [3 3 3]", got)
	}

	// Numbers are never reused: after version 3 is deleted the next is 4.
	if err := h.c.Delete(context.Background(), h.mv("a")); err != nil {
		t.Fatal(err)
	}
	h.reconcileModel("housing")
	h.create(newVersion("d", "housing", 4).obj())
	h.reconcileModel("housing")
	if n := VersionNumber(h.mv("d")); n != 4 {
		t.Errorf("version after a deleted one = %d, want 4", n)
	}
	if m := h.model("housing"); m.Status.LatestVersion != 4 || m.Status.VersionCount != 3 {
		t.Errorf("latest, count = %d, %d; want 4, 3", m.Status.LatestVersion, m.Status.VersionCount)
	}
}

// A crash can leave the reserved count ahead of the labels (a gap), or a
// label ahead of a status write that was lost; neither gives a number twice.
func TestNumberingAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reserved int64
		labelled int64
		want     int64
	}{
		{name: "reserved but not labelled", reserved: 5, labelled: 2, want: 6},
		{name: "labelled but status lost", reserved: 1, labelled: 7, want: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel("housing").obj()
			m.Status.LastAssignedVersion = tc.reserved
			h := newHarness(t, m, newVersion("old", "housing", 0).number(tc.labelled).obj(), newVersion("new", "housing", 1).obj())
			h.reconcileModel("housing")
			if n := VersionNumber(h.mv("new")); n != tc.want {
				t.Errorf("new version = %d, want %d", n, tc.want)
			}
			if n := VersionNumber(h.mv("old")); n != tc.labelled {
				t.Errorf("old version renumbered to %d", n)
			}
		})
	}
}

func TestAliasReadiness(t *testing.T) {
	versions := []*mlv1.ModelVersion{
		newVersion("v1", "housing", 1).number(1).ready(metav1.ConditionTrue, ReasonRegistered).obj(),
		newVersion("v2", "housing", 2).number(2).ready(metav1.ConditionFalse, ReasonLoadFailed).obj(),
	}
	for _, tc := range []struct {
		name    string
		aliases map[string]int64
		want    string
	}{
		{name: "none", want: "True " + ReasonAliasesReady},
		{name: "ready version", aliases: map[string]int64{"champion": 1}, want: "True " + ReasonAliasesReady},
		{name: "broken version", aliases: map[string]int64{"champion": 1, "challenger": 2}, want: "False " + ReasonAliasTargetNotReady},
		{name: "missing version", aliases: map[string]int64{"champion": 9}, want: "False " + ReasonAliasTargetMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel("housing")
			for a, n := range tc.aliases {
				m.alias(a, n)
			}
			h := newHarness(t, m.obj(), versions[0].DeepCopy(), versions[1].DeepCopy())
			h.reconcileModel("housing")
			if got := readyOf(h.model("housing").Status.Conditions); got != tc.want {
				t.Errorf("Ready = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAliasHistory(t *testing.T) {
	h := newHarness(t, newModel("housing").obj())
	h.reconcileModel("housing")
	h.updateModel("housing", func(m *mlv1.Model) { m.Spec.Aliases = map[string]int64{"champion": 1} })
	h.reconcileModel("housing")
	h.updateModel("housing", func(m *mlv1.Model) {
		m.Spec.Aliases = map[string]int64{"champion": 2, "challenger": 3}
		m.Annotations = map[string]string{AnnotationAliasUser: "alice"}
	})
	h.reconcileModel("housing")
	h.reconcileModel("housing") // nothing moved: nothing recorded
	h.updateModel("housing", func(m *mlv1.Model) { delete(m.Spec.Aliases, "challenger") })
	h.reconcileModel("housing")

	at := metav1.NewTime(epoch)
	want := []mlv1.AliasMove{
		{Alias: "champion", To: 1, Time: at},
		{Alias: "challenger", To: 3, User: "alice", Time: at},
		{Alias: "champion", From: 1, To: 2, User: "alice", Time: at},
		{Alias: "challenger", From: 3, User: "alice", Time: at},
	}
	m := h.model("housing")
	if diff := cmp.Diff(want, m.Status.AliasHistory); diff != "" {
		t.Errorf("alias history (-want +got):\n%s", diff)
	}
	if m.Status.AliasSummary != "champion=2" {
		t.Errorf("alias summary = %q, want champion=2", m.Status.AliasSummary)
	}
}

func TestAliasHistoryIsBounded(t *testing.T) {
	h := newHarness(t, newModel("housing").obj())
	for i := 1; i <= maxAliasHistory+20; i++ {
		h.updateModel("housing", func(m *mlv1.Model) { m.Spec.Aliases = map[string]int64{"champion": int64(i)} })
		h.reconcileModel("housing")
	}
	history := h.model("housing").Status.AliasHistory
	if len(history) != maxAliasHistory {
		t.Fatalf("history holds %d moves, want %d", len(history), maxAliasHistory)
	}
	last := history[len(history)-1]
	if got, want := fmt.Sprintf("%d->%d", last.From, last.To), fmt.Sprintf("%d->%d", maxAliasHistory+19, maxAliasHistory+20); got != want {
		t.Errorf("newest move = %s, want %s", got, want)
	}
}

func TestAliasSummaryRoundTrip(t *testing.T) {
	aliases := map[string]int64{"champion": 3, "challenger": 12, "a-b": 1}
	s := AliasSummary(aliases)
	if s != "a-b=1,challenger=12,champion=3" {
		t.Errorf("AliasSummary = %q", s)
	}
	if diff := cmp.Diff(aliases, ParseAliasSummary(s)); diff != "" {
		t.Errorf("ParseAliasSummary (-want +got):\n%s", diff)
	}
	if got := ParseAliasSummary(""); len(got) != 0 {
		t.Errorf("ParseAliasSummary(\"\") = %v", got)
	}
}
