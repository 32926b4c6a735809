package modelservice

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// fullSize is how many pods a blue/green revision starts with: as many as
// the stable revision runs, so that it can take all traffic at once. 0
// for any other strategy.
func fullSize(ms *mlv1.ModelService, deps []appsv1.Deployment) int32 {
	if ro := ms.Spec.Rollout; ro == nil || ro.Strategy != mlv1.RolloutBlueGreen {
		return 0
	}
	for _, d := range deps {
		if d.Name == ms.Status.StableRevision {
			return ptr.Deref(d.Spec.Replicas, 0)
		}
	}
	return 0
}

// scaleDown keeps the old revision of a blue/green switch at the fewest
// pods it may run until the rollout is promoted: ready for an instant
// switch back, at little cost.
func (r *Reconciler) scaleDown(ctx context.Context, ms *mlv1.ModelService, deps []appsv1.Deployment, old string) error {
	for i := range deps {
		d := &deps[i]
		if d.Name != old || ptr.Deref(d.Spec.Replicas, 0) <= minReplicas(ms) {
			continue
		}
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Replicas = ptr.To(minReplicas(ms))
		if err := r.Client.Patch(ctx, d, patch); err != nil {
			return fmt.Errorf("scale revision %s down to %d: %w", old, minReplicas(ms), err)
		}
	}
	return nil
}
