package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// ModelHistory is a model's lineage, as skiff models history shows it.
type ModelHistory struct {
	Model   string         `json:"model"`
	Events  []HistoryEvent `json:"events"`
	Serving []ServingEntry `json:"serving,omitempty"`
}

// HistoryEvent is a version registered or an alias moved.
type HistoryEvent struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	Version int64     `json:"version,omitempty"`
	Details string    `json:"details"`
}

// ServingEntry is a ModelService serving the model from the registry.
type ServingEntry struct {
	ModelService string   `json:"modelService"`
	URI          string   `json:"uri"`
	Version      int64    `json:"version"`
	Revisions    []string `json:"revisions,omitempty"`
}

// modelHistory puts a model's versions, alias moves and servers in order.
func modelHistory(m *mlv1.Model, versions []mlv1.ModelVersion, services []mlv1.ModelService) *ModelHistory {
	h := &ModelHistory{Model: m.Name}
	for _, v := range versions {
		h.Events = append(h.Events, HistoryEvent{Time: v.CreationTimestamp.Time, Event: "Registered", Version: v.Number(), Details: versionDetails(&v)})
	}
	for _, mv := range m.Status.AliasHistory {
		h.Events = append(h.Events, HistoryEvent{Time: mv.Time.Time, Event: "AliasMoved", Version: mv.To, Details: mv.String()})
	}
	slices.SortStableFunc(h.Events, func(a, b HistoryEvent) int { return a.Time.Compare(b.Time) })
	for _, ms := range services {
		pm := ms.Spec.Predictor.Model
		if pm == nil || !servesModel(pm.StorageURI, m.Name) {
			continue
		}
		e := ServingEntry{ModelService: ms.Name, URI: pm.StorageURI}
		if v := ms.Status.ModelVersion; v != nil {
			e.Version = v.Version
		}
		for _, r := range ms.Status.Revisions {
			e.Revisions = append(e.Revisions, fmt.Sprintf("%s=%s", r.Name, cmp.Or(r.ModelVersion, "?")))
		}
		h.Serving = append(h.Serving, e)
	}
	return h
}

// servesModel says whether a storageUri names the model in the registry.
func servesModel(uri, model string) bool {
	rest, ok := strings.CutPrefix(uri, "models:/"+model)
	return ok && (strings.HasPrefix(rest, "@") || strings.HasPrefix(rest, "/"))
}

func versionDetails(v *mlv1.ModelVersion) string {
	parts := []string{v.Name + " from " + v.Spec.Source.StorageURI}
	if r := v.Spec.RunRef; r != nil {
		parts = append(parts, "run "+strings.ToLower(r.Kind)+"/"+r.Name)
	}
	if len(v.Spec.Parameters) > 0 {
		var ps []string
		for _, p := range v.Spec.Parameters {
			ps = append(ps, p.Name+"="+p.Value)
		}
		parts = append(parts, "parameters "+strings.Join(ps, ","))
	}
	if len(v.Spec.Metrics) > 0 {
		var ms []string
		for _, m := range v.Spec.Metrics {
			ms = append(ms, m.Name+"="+m.Value)
		}
		parts = append(parts, "metrics "+strings.Join(ms, ","))
	}
	if c := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady); c != nil && c.Status != "True" {
		parts = append(parts, "not Ready: "+c.Reason+": "+c.Message)
	}
	return strings.Join(parts, "; ")
}
