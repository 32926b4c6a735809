package modelservice

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// modelsScheme starts a storageUri served from the model registry.
const modelsScheme = "models:/"

// AnnotationModelVersion on a revision's pods is the registry version it
// serves, <model>/<version>.
const AnnotationModelVersion = "ml.skiff.dev/model-version"

// ReasonModelUnresolved: storageUri names a registry version that cannot
// be served (no such model, alias or version, or it is not Ready).
const ReasonModelUnresolved = "ModelVersionUnresolved"

// registryRef is a parsed models:/ URI.
type registryRef struct {
	model   string
	alias   string // or
	version int64
}

// parseModelsURI reads models:/<model>@<alias> and models:/<model>/<n>.
func parseModelsURI(uri string) (registryRef, bool) {
	rest, ok := strings.CutPrefix(uri, modelsScheme)
	if !ok {
		return registryRef{}, false
	}
	if model, alias, ok := strings.Cut(rest, "@"); ok {
		return registryRef{model: model, alias: alias}, model != "" && alias != ""
	}
	model, num, ok := strings.Cut(rest, "/")
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 1 || model == "" {
		return registryRef{}, false
	}
	return registryRef{model: model, version: n}, true
}

// errUnresolved marks a registry version that cannot be served; the
// ModelService keeps serving what it serves until it can.
var errUnresolved = errors.New("model version unresolved")

// resolveModel is ms as it is served: a models:/ storageUri replaced by
// the version's artifact and format, on a copy; other ModelServices are
// returned as they are.
func (r *Reconciler) resolveModel(ctx context.Context, ms *mlv1.ModelService) (*mlv1.ModelService, *mlv1.ServedModelVersion, error) {
	m := ms.Spec.Predictor.Model
	if m == nil || !strings.HasPrefix(m.StorageURI, modelsScheme) {
		return ms, nil, nil
	}
	ref, ok := parseModelsURI(m.StorageURI)
	if !ok {
		return nil, nil, fmt.Errorf("%w: storageUri %q is not models:/<model>@<alias> or models:/<model>/<version>", errUnresolved, m.StorageURI)
	}
	n := ref.version
	if ref.alias != "" {
		var model mlv1.Model
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ms.Namespace, Name: ref.model}, &model); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil, fmt.Errorf("%w: model %s does not exist in namespace %s", errUnresolved, ref.model, ms.Namespace)
			}
			return nil, nil, err
		}
		if n, ok = model.Spec.Aliases[ref.alias]; !ok {
			return nil, nil, fmt.Errorf("%w: model %s has no alias %s (it has %s)", errUnresolved, ref.model, ref.alias, orNone(model.Status.AliasSummary))
		}
	}
	v, err := r.registeredVersion(ctx, ms.Namespace, ref.model, n)
	if err != nil {
		return nil, nil, err
	}
	served := ms.DeepCopy()
	served.Spec.Predictor.Model.StorageURI = v.Status.ArtifactURI
	served.Spec.Predictor.Model.ModelFormat = v.Spec.ModelFormat
	return served, &mlv1.ServedModelVersion{Model: ref.model, Version: n, Alias: ref.alias, Name: v.Name, Checksum: v.Status.Checksum}, nil
}

// registeredVersion finds version n of a model, and insists it is Ready:
// a file that did not load is never served.
func (r *Reconciler) registeredVersion(ctx context.Context, namespace, model string, n int64) (*mlv1.ModelVersion, error) {
	var list mlv1.ModelVersionList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{mlv1.LabelModel: model, mlv1.LabelModelVersion: strconv.FormatInt(n, 10)}); err != nil {
		return nil, err
	}
	for i := range list.Items {
		v := &list.Items[i]
		if v.Spec.Model != model || v.Number() != n {
			continue
		}
		if c := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady); c == nil || c.Status != "True" || v.Status.ArtifactURI == "" {
			why := "it is not registered yet"
			if c != nil {
				why = c.Reason + ": " + c.Message
			}
			return nil, fmt.Errorf("%w: version %d of model %s (%s) is not Ready: %s", errUnresolved, n, model, v.Name, why)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%w: model %s has no version %d", errUnresolved, model, n)
}

// servedName is <model>/<version>, as revisions show it.
func servedName(v *mlv1.ServedModelVersion) string {
	return v.Model + "/" + strconv.FormatInt(v.Version, 10)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// unresolved reports why the registry version cannot be served, and
// leaves every object as it is: what serves keeps serving.
func (r *Reconciler) unresolved(ctx context.Context, ms *mlv1.ModelService, err error) (ctrl.Result, error) {
	return r.failedWith(ctx, ms, ReasonModelUnresolved, err)
}

// modelServicesOfModel wakes the ModelServices that serve a model from
// the registry (its aliases moved, or one of its versions changed).
func (r *Reconciler) modelServicesOfModel(ctx context.Context, o client.Object) []ctrl.Request {
	model := o.GetName()
	if v, ok := o.(*mlv1.ModelVersion); ok {
		model = v.Spec.Model
	}
	var list mlv1.ModelServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []ctrl.Request
	for _, ms := range list.Items {
		if m := ms.Spec.Predictor.Model; m != nil {
			if ref, ok := parseModelsURI(m.StorageURI); ok && ref.model == model {
				out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&ms)})
			}
		}
	}
	return out
}
