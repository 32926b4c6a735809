package modelservice

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// revision is one version of spec.predictor: numbered from 1, named
// <modelservice>-<five digits> as Knative names its revisions.
type revision struct {
	number int32
	name   string
	hash   string
	isNew  bool // not yet in the Deployment
}

func newRevision(ms *mlv1.ModelService, number int32, hash string, isNew bool) revision {
	return revision{number: number, name: revisionName(ms.Name, number), hash: hash, isNew: isNew}
}

func revisionName(ms string, number int32) string { return fmt.Sprintf("%s-%05d", ms, number) }

// revision finds the revision of the current spec. The Deployment's pod
// template is the record: if it was made from this spec, its number
// stands (so a restart between writing the Deployment and the status makes
// no second revision); otherwise the next number after every one seen.
func (r *Reconciler) revision(ctx context.Context, ms *mlv1.ModelService) (revision, error) {
	hash := predictorHash(ms.Spec.Predictor, r.Options.ModelServerImage)
	last := int32(0)
	for _, rs := range ms.Status.Revisions {
		last = max(last, rs.Number)
	}
	var dep appsv1.Deployment
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: ms.Namespace, Name: predictorName(ms)}, &dep)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return revision{}, err
	default:
		n := templateRevision(&dep)
		if dep.Spec.Template.Annotations[AnnotationPredictorHash] == hash && n > 0 {
			return newRevision(ms, n, hash, false), nil
		}
		last = max(last, n)
	}
	return newRevision(ms, last+1, hash, true), nil
}

// templateRevision is the revision number a Deployment's template carries.
func templateRevision(dep *appsv1.Deployment) int32 {
	n, _ := strconv.ParseInt(dep.Spec.Template.Annotations[AnnotationRevisionNumber], 10, 32)
	return int32(n)
}

// predictorHash identifies a spec.predictor (with its schema defaults).
// Replica bounds and the autoscaler's knobs do not make a new revision; a
// new model server image (a skiff upgrade) does.
func predictorHash(p mlv1.PredictorSpec, image string) string {
	p.MinReplicas, p.MaxReplicas, p.ScaleMetric, p.ScaleTarget = nil, 0, "", nil
	data, _ := json.Marshal(p)
	h := fnv.New64a()
	h.Write(data)
	if p.Model != nil {
		h.Write([]byte(image))
	}
	return strconv.FormatUint(h.Sum64(), 36)
}
