package modelservice

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// revision is one version of spec.predictor: numbered from 1, named
// <modelservice>-<five digits> as Knative names its revisions.
type revision struct {
	number int32
	name   string
	hash   string
	isNew  bool // no Deployment yet
	// served is the registry version it serves (models:/ URIs).
	served *mlv1.ServedModelVersion
}

func newRevision(ms *mlv1.ModelService, number int32, hash string, isNew bool) revision {
	return revision{number: number, name: revisionName(ms.Name, number), hash: hash, isNew: isNew}
}

func revisionName(ms string, number int32) string { return fmt.Sprintf("%s-%05d", ms, number) }

// revision finds the revision of the current spec. The revision
// Deployments are the record: if the newest was made from this spec, its
// number stands (so a restart between writing a Deployment and the status
// makes no second revision); otherwise the next number after every one
// seen.
func (r *Reconciler) revision(ms *mlv1.ModelService, deps []appsv1.Deployment) revision {
	hash := predictorHash(ms.Spec.Predictor, r.Options.ModelServerImage)
	last := int32(0)
	for _, rs := range ms.Status.Revisions {
		last = max(last, rs.Number)
	}
	if len(deps) > 0 {
		newest := &deps[0]
		n := templateRevision(newest)
		if newest.Spec.Template.Annotations[AnnotationPredictorHash] == hash && n > 0 {
			return newRevision(ms, n, hash, false)
		}
		last = max(last, n)
	}
	return newRevision(ms, last+1, hash, true)
}

// revisionDeployments are the Deployments ms controls, newest revision
// first.
func (r *Reconciler) revisionDeployments(ctx context.Context, ms *mlv1.ModelService) ([]appsv1.Deployment, error) {
	var list appsv1.DeploymentList
	if err := r.Client.List(ctx, &list, client.InNamespace(ms.Namespace), client.MatchingLabels{LabelModelService: ms.Name}); err != nil {
		return nil, err
	}
	deps := slices.DeleteFunc(list.Items, func(d appsv1.Deployment) bool { return !metav1.IsControlledBy(&d, ms) })
	slices.SortFunc(deps, func(a, b appsv1.Deployment) int { return cmp.Compare(templateRevision(&b), templateRevision(&a)) })
	return deps, nil
}

// templateRevision is the revision number a Deployment's template carries.
func templateRevision(dep *appsv1.Deployment) int32 {
	n, _ := strconv.ParseInt(dep.Spec.Template.Annotations[AnnotationRevisionNumber], 10, 32)
	return int32(n)
}

// predictorHash identifies a spec.predictor (with its schema defaults).
// Replica bounds, the autoscalers' knobs, the concurrency limit and the
// traffic split do not make a new revision; a
// new model server image (a skiff upgrade) does.
func predictorHash(p mlv1.PredictorSpec, image string) string {
	p.MinReplicas, p.MaxReplicas, p.ScaleMetric, p.ScaleTarget = nil, 0, "", nil
	// The gateway enforces the concurrency limit: the pods stay the same.
	p.ContainerConcurrency, p.Autoscaling = nil, nil
	p.CanaryTrafficPercent, p.ShadowTrafficPercent = nil, nil
	data, _ := json.Marshal(p)
	h := fnv.New64a()
	h.Write(data)
	if p.Model != nil {
		h.Write([]byte(image))
	}
	return strconv.FormatUint(h.Sum64(), 36)
}
