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

// blueGreenSize keeps the old revision of a blue/green switch at the
// fewest pods it may run until the rollout is promoted (ready for an
// instant switch back, at little cost), and gives it back the new one's
// size when the switch is undone, since all traffic is its again.
func (r *Reconciler) blueGreenSize(ctx context.Context, ms *mlv1.ModelService, ro *mlv1.RolloutStatus, deps []appsv1.Deployment, latest *appsv1.Deployment, old string) error {
	if ro == nil || ro.Strategy != mlv1.RolloutBlueGreen || old == "" {
		return nil
	}
	switch ro.Phase {
	case mlv1.RolloutSwitched:
		return r.resize(ctx, deps, old, max(r.bounds(ms).min, 1), func(have, want int32) bool { return have > want })
	case mlv1.RolloutAborted:
		return r.resize(ctx, deps, old, ptr.Deref(latest.Spec.Replicas, r.bounds(ms).initial), func(have, want int32) bool { return have < want })
	}
	return nil
}

// resize sets a revision's replicas to want when change(have, want) says so.
func (r *Reconciler) resize(ctx context.Context, deps []appsv1.Deployment, name string, want int32, change func(have, want int32) bool) error {
	for i := range deps {
		d := &deps[i]
		if d.Name != name || !change(ptr.Deref(d.Spec.Replicas, 0), want) {
			continue
		}
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Replicas = ptr.To(want)
		if err := r.Client.Patch(ctx, d, patch); err != nil {
			return fmt.Errorf("scale revision %s to %d: %w", name, want, err)
		}
	}
	return nil
}
