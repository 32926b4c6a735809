package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/skiff-dev/skiff/internal/gateway"
)

// writeStatus writes each object's status where it changed. Conditions
// keep their transition times while their status holds.
func (r *Reconciler) writeStatus(ctx context.Context, in *gateway.Input, out *gateway.Output, bindErrs map[string]error) error {
	var errs []error
	for i := range in.GatewayClasses {
		gc := &in.GatewayClasses[i]
		c, ok := out.GatewayClasses[gc.Name]
		if !ok {
			continue
		}
		st := gc.Status.DeepCopy()
		meta.SetStatusCondition(&st.Conditions, c)
		errs = append(errs, update(ctx, r, gc, &gc.Status, st))
	}
	for i := range in.Gateways {
		gw := &in.Gateways[i]
		want, ok := out.Gateways[client.ObjectKeyFromObject(gw)]
		if !ok {
			continue
		}
		markBindErrors(gw, want, out.ListenerAddresses[client.ObjectKeyFromObject(gw)], bindErrs)
		st := want.DeepCopy()
		st.Conditions = keepTimes(gw.Status.Conditions, want.Conditions)
		for j := range st.Listeners {
			var have []metav1.Condition
			if k := slices.IndexFunc(gw.Status.Listeners, func(l gwv1.ListenerStatus) bool { return l.Name == st.Listeners[j].Name }); k >= 0 {
				have = gw.Status.Listeners[k].Conditions
			}
			st.Listeners[j].Conditions = keepTimes(have, st.Listeners[j].Conditions)
		}
		errs = append(errs, update(ctx, r, gw, &gw.Status, st))
	}
	for i := range in.HTTPRoutes {
		hr := &in.HTTPRoutes[i]
		st := hr.Status.DeepCopy()
		st.Parents = mergeParents(hr.Status.Parents, out.HTTPRoutes[client.ObjectKeyFromObject(hr)])
		errs = append(errs, update(ctx, r, hr, &hr.Status, st))
	}
	for i := range in.GRPCRoutes {
		gr := &in.GRPCRoutes[i]
		st := gr.Status.DeepCopy()
		st.Parents = mergeParents(gr.Status.Parents, out.GRPCRoutes[client.ObjectKeyFromObject(gr)])
		errs = append(errs, update(ctx, r, gr, &gr.Status, st))
	}
	return errors.Join(errs...)
}

// update writes want into obj's status (pointed to by have) if it
// differs; a conflict is left to the next event, which brings a fresh copy.
func update[T any](ctx context.Context, r *Reconciler, obj client.Object, have *T, want *T) error {
	if equality.Semantic.DeepEqual(have, want) {
		return nil
	}
	*have = *want
	if err := r.Client.Status().Update(ctx, obj); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("status of %T %s: %w", obj, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// markBindErrors turns listeners whose address could not be bound into
// Programmed=False, and the Gateway with them when none is served.
func markBindErrors(gw *gwv1.Gateway, st *gwv1.GatewayStatus, addrs map[gwv1.SectionName]string, bindErrs map[string]error) {
	failed := 0
	for i := range st.Listeners {
		l := &st.Listeners[i]
		err := bindErrs[addrs[l.Name]]
		if err == nil {
			continue
		}
		failed++
		meta.SetStatusCondition(&l.Conditions, metav1.Condition{Type: string(gwv1.ListenerConditionProgrammed), Status: metav1.ConditionFalse,
			Reason: string(gwv1.ListenerReasonPortUnavailable), Message: err.Error(), ObservedGeneration: gw.Generation})
	}
	if failed > 0 && failed == len(st.Listeners) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionFalse,
			Reason: string(gwv1.GatewayReasonAddressNotUsable), Message: "no listener could be bound: see the listeners' Programmed conditions", ObservedGeneration: gw.Generation})
	}
}

// keepTimes is want with the transition times of unchanged conditions,
// and now for new ones (the API requires one).
func keepTimes(have, want []metav1.Condition) []metav1.Condition {
	out := slices.Clone(have)
	out = slices.DeleteFunc(out, func(c metav1.Condition) bool { return meta.FindStatusCondition(want, c.Type) == nil })
	for _, c := range want {
		meta.SetStatusCondition(&out, c)
	}
	return out
}

// mergeParents replaces skiff's parent statuses with ours and keeps other
// controllers'.
func mergeParents(have, ours []gwv1.RouteParentStatus) []gwv1.RouteParentStatus {
	var out []gwv1.RouteParentStatus
	for _, p := range have {
		if p.ControllerName != gateway.ControllerName {
			out = append(out, p)
		}
	}
	for _, p := range ours {
		var conds []metav1.Condition
		if k := slices.IndexFunc(have, func(h gwv1.RouteParentStatus) bool {
			return h.ControllerName == gateway.ControllerName && equality.Semantic.DeepEqual(h.ParentRef, p.ParentRef)
		}); k >= 0 {
			conds = have[k].Conditions
		}
		p.Conditions = keepTimes(conds, p.Conditions)
		out = append(out, p)
	}
	return out
}
