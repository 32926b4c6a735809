package modelservice

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// Reasons of the conditions, for a user to act on.
const (
	ReasonServing          = "Serving"
	ReasonRevisionStarting = "RevisionStarting"
	ReasonRollingOut       = "RollingOut"
	ReasonModelLoadFailed  = "ModelLoadFailed"
	ReasonContainerFailed  = "ContainerFailed"
	ReasonUnschedulable    = "Unschedulable"
	ReasonFailedCreate     = "FailedCreate"
	ReasonDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonLatestRevision   = "LatestRevision"
	ReasonPreviousRevision = "PreviousRevision"
	ReasonNoReadyPods      = "NoReadyPods"
	ReasonNameTaken        = "NameTaken"
	ReasonFailedMount      = "FailedMount"
	ReasonCanary           = "Canary"
	ReasonShadow           = "Shadow"
	ReasonProgressing      = "Progressing"
	ReasonSwitched         = "Switched"
	ReasonRolledBack       = "RolledBack"
	ReasonAborted          = "Aborted"
	ReasonVariants         = "Variants"
	ReasonRevisionNotFound = "RevisionNotFound"
	ReasonScaledToZero     = "ScaledToZero"
	// ReasonScaleToZeroUnavailable: minReplicas 0 with no skiff gateway
	// to hold requests while a revision wakes.
	ReasonScaleToZeroUnavailable = "ScaleToZeroUnavailable"
	// ReasonRefused: the API server refused an object the controller
	// wrote; the message is its answer.
	ReasonRefused = "Refused"
)

// podWaitReasons are container states that will not pass by themselves.
var podWaitReasons = []string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}

// revisionPods is what the pods of one revision show.
type revisionPods struct {
	name           string
	number         int32
	pods, ready    int32
	reason, detail string // why it cannot be ready, if it cannot
	// atZero: its Deployment wants no pods (the request autoscaler's
	// doing); autoscaling is that autoscaler's last decision.
	atZero      bool
	autoscaling *mlv1.RevisionAutoscaling
	// modelVersion is the registry version it serves, <model>/<version>.
	modelVersion string
}

// observation is what the pods show and where traffic goes.
type observation struct {
	pods        []corev1.Pod
	revs        map[string]*revisionPods
	latest      *revisionPods
	latestReady bool
	stable      string
	traffic     []target
	// rollout is status.rollout to write; requeue when to look again.
	rollout *mlv1.RolloutStatus
	requeue time.Duration
	// trafficErr is why spec.traffic cannot be followed.
	trafficErr error
	// desired is the pods the revisions kept want.
	desired int32
	// zeroRefused: minReplicas 0 without a gateway to hold requests.
	zeroRefused bool
}

// keep are the revisions whose Deployments and Services stay: the latest
// and those in the traffic.
func (o *observation) keep() []string {
	out := []string{}
	for _, t := range o.traffic {
		out = append(out, t.revision)
	}
	if o.latest != nil && !slices.Contains(out, o.latest.name) {
		out = append(out, o.latest.name)
	}
	return out
}

// observe reads the pods of ms and decides the traffic.
func (r *Reconciler) observe(ctx context.Context, ms *mlv1.ModelService, rev revision, dep *appsv1.Deployment, deps []appsv1.Deployment) (*observation, error) {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(ms.Namespace), client.MatchingLabels{LabelModelService: ms.Name}); err != nil {
		return nil, err
	}
	// In name order, so the pod whose failure is reported stays the same.
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	o := &observation{pods: pods.Items, revs: groupPods(pods.Items, ms.Spec.Predictor.Model != nil), zeroRefused: r.bounds(ms).zeroRefused}
	latest := o.revs[rev.name]
	if latest == nil {
		latest = &revisionPods{number: rev.number}
		if v := rev.served; v != nil {
			latest.modelVersion = servedName(v)
		}
		o.revs[rev.name] = latest
	}
	latest.name = rev.name
	if latest.reason == "" && !rev.isNew && dep.Status.ObservedGeneration >= dep.Generation {
		latest.reason, latest.detail = deploymentFailure(dep)
	}
	o.latest = latest
	o.scaled(deps, dep)
	wanted := ptr.Deref(dep.Spec.Replicas, r.bounds(ms).initial)
	// Ready once all its pods are; having served, it stays ready while any
	// pod is (a scale-up or one restarting pod is not a failed revision),
	// and at zero, which the next request ends.
	o.latestReady = !rev.isNew && (latest.ready >= max(wanted, 1) || (ms.Status.LatestReadyRevision == rev.name && (latest.ready > 0 || wanted == 0 || latest.waking())))
	if st := ms.Status.StableRevision; slices.ContainsFunc(deps, func(d appsv1.Deployment) bool { return d.Name == st }) {
		o.stable = st
	}
	plan := r.progress(ctx, ms, rev.name, o.latestReady, o.stable, r.now())
	o.traffic, o.rollout, o.requeue = plan.traffic, plan.status, plan.requeue
	if len(ms.Spec.Traffic) > 0 {
		var have []string
		for _, d := range deps {
			have = append(have, d.Name)
		}
		if ts, err := variants(ms, rev.name, o.latestReady, o.stable, have); err != nil {
			// The traffic stays as it was until the spec is fixed.
			o.trafficErr = err
			if len(ms.Status.Traffic) > 0 {
				o.traffic = targets(ms.Status.Traffic)
			}
		} else {
			o.traffic = ts
		}
	}
	if len(o.traffic) == 1 {
		o.stable = o.traffic[0].revision
	}
	for _, name := range o.keep() {
		for i := range deps {
			if deps[i].Name == name && name != dep.Name {
				o.desired += ptr.Deref(deps[i].Spec.Replicas, 0)
			}
		}
	}
	o.desired += ptr.Deref(dep.Spec.Replicas, 0)
	return o, nil
}

// waking says whether the revision is coming back from zero: woken by
// the request autoscaler, and no pod has failed.
func (rp *revisionPods) waking() bool {
	return rp.autoscaling != nil && rp.autoscaling.LastWakeTime != nil && rp.reason == ""
}

// scaled notes the revisions at zero, and the request autoscaler's last
// decision for each revision (latest is the Deployment just applied).
func (o *observation) scaled(deps []appsv1.Deployment, latest *appsv1.Deployment) {
	for i := range deps {
		d := &deps[i]
		if d.Name == latest.Name {
			d = latest
		}
		rp := o.revs[d.Name]
		zero := ptr.Deref(d.Spec.Replicas, 1) == 0
		if rp == nil && !zero {
			continue
		}
		if rp == nil {
			rp = &revisionPods{name: d.Name, number: templateRevision(d), modelVersion: d.Spec.Template.Annotations[AnnotationModelVersion]}
			o.revs[d.Name] = rp
		}
		rp.atZero = zero
		if _, ok := d.Annotations[AnnotationAutoscaling]; ok {
			rp.autoscaling = revisionAutoscaling(d)
			rp.autoscaling.ScaledToZero = rp.autoscaling.ScaledToZero && zero
		}
	}
}

// targets are the targets status.traffic recorded.
func targets(ts []mlv1.TrafficTarget) []target {
	out := make([]target, 0, len(ts))
	for _, t := range ts {
		out = append(out, target{revision: t.RevisionName, percent: t.Percent, shadow: t.ShadowPercent, tag: t.Tag})
	}
	return out
}

// updateStatus writes what the cluster shows into ms's status, and an
// event for each change a user would ask about.
func (r *Reconciler) updateStatus(ctx context.Context, ms *mlv1.ModelService, rev revision, o *observation, svc *corev1.Service) (ctrl.Result, error) {
	old := ms.Status.DeepCopy()
	st := &ms.Status
	st.ObservedGeneration = ms.Generation
	st.LatestCreatedRevision = rev.name
	if o.latestReady {
		st.LatestReadyRevision = rev.name
	}
	st.StableRevision = o.stable
	st.Rollout = o.rollout
	st.Revisions, st.Traffic, st.TrafficSummary = revisionsAndTraffic(o.revs, rev, o.latestReady, o.traffic)
	st.Replicas, st.ReadyReplicas = 0, 0
	for _, rp := range o.revs {
		st.Replicas += rp.pods
		st.ReadyReplicas += rp.ready
	}
	st.ReplicaSummary = fmt.Sprintf("%d/%d", st.ReadyReplicas, o.desired)
	if o.desired == 0 && st.Replicas == 0 {
		st.ReplicaSummary = "0 (scaled to zero)"
	}
	st.URL, st.Address = r.urls(ctx, ms, svc)
	st.Model = r.modelStatus(ctx, ms, rev, o.latestReady, o.pods)
	st.ModelVersion = rev.served
	setConditions(ms, rev, o)
	r.recordTransitions(ms, old, rev, o.latest)
	done := ctrl.Result{RequeueAfter: o.requeue}
	if equality.Semantic.DeepEqual(old, st) {
		return done, nil
	}
	if err := r.Client.Status().Update(ctx, ms); err != nil {
		return ctrl.Result{Requeue: ignoreConflict(err) == nil}, ignoreConflict(err)
	}
	r.recordRollout(ms, old.Rollout, st.Rollout)
	return done, nil
}

// groupPods sorts the predictor pods by revision and finds why a revision
// cannot become ready. Pods on their way out do not count.
func groupPods(pods []corev1.Pod, native bool) map[string]*revisionPods {
	out := map[string]*revisionPods{}
	for i := range pods {
		p := &pods[i]
		name := p.Labels[LabelRevision]
		if name == "" || !p.DeletionTimestamp.IsZero() || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		rp := out[name]
		if rp == nil {
			n, _ := strconv.ParseInt(p.Annotations[AnnotationRevisionNumber], 10, 32)
			rp = &revisionPods{number: int32(n), modelVersion: p.Annotations[AnnotationModelVersion]}
			out[name] = rp
		}
		rp.pods++
		if podReady(p) {
			rp.ready++
		} else if rp.reason == "" {
			rp.reason, rp.detail = podFailure(p, native)
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podFailure is why a pod cannot become ready, or "" while it may still.
func podFailure(p *corev1.Pod, native bool) (string, string) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return ReasonUnschedulable, c.Message
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil {
			t = cs.LastTerminationState.Terminated
		}
		if t != nil && t.ExitCode != 0 {
			reason := ReasonContainerFailed
			if native {
				reason = ReasonModelLoadFailed
			}
			msg := strings.TrimSpace(t.Message)
			if msg == "" {
				msg = fmt.Sprintf("exit code %d", t.ExitCode)
			}
			return reason, fmt.Sprintf("container %s: %s", cs.Name, msg)
		}
		if w := cs.State.Waiting; w != nil && slices.Contains(podWaitReasons, w.Reason) {
			return w.Reason, fmt.Sprintf("container %s: %s", cs.Name, w.Message)
		}
		if w := cs.State.Waiting; w != nil && w.Reason == "ContainerCreating" && w.Message != "" {
			return ReasonFailedMount, w.Message
		}
	}
	return "", ""
}

// deploymentFailure is what the Deployment reports that no pod shows: a
// pod it cannot create (a quota), or a rollout past its deadline.
func deploymentFailure(dep *appsv1.Deployment) (string, string) {
	for _, c := range dep.Status.Conditions {
		switch {
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue:
			return ReasonFailedCreate, c.Message
		case c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded":
			return ReasonDeadlineExceeded, c.Message
		}
	}
	return "", ""
}

// revisionsAndTraffic lists the revisions with pods (and the latest),
// newest first, and the traffic as decided.
func revisionsAndTraffic(revs map[string]*revisionPods, rev revision, latestReady bool, ts []target) ([]mlv1.RevisionStatus, []mlv1.TrafficTarget, string) {
	var list []mlv1.RevisionStatus
	for name, rp := range revs {
		rs := mlv1.RevisionStatus{Name: name, Number: rp.number, Replicas: rp.pods, ReadyReplicas: rp.ready, Ready: metav1.ConditionUnknown, Autoscaling: rp.autoscaling, ModelVersion: rp.modelVersion}
		switch {
		case rp.atZero && rp.pods == 0 && (name != rev.name || latestReady):
			rs.Ready, rs.Reason, rs.Message = metav1.ConditionTrue, ReasonScaledToZero, "no pods for want of requests: the gateway holds the next request and wakes it"
		case name == rev.name && latestReady, name != rev.name && rp.ready > 0:
			rs.Ready = metav1.ConditionTrue
		case rp.reason != "":
			rs.Ready, rs.Reason, rs.Message = metav1.ConditionFalse, rp.reason, rp.detail
		}
		list = append(list, rs)
	}
	slices.SortFunc(list, func(a, b mlv1.RevisionStatus) int { return int(b.Number - a.Number) })
	var traffic []mlv1.TrafficTarget
	var summary []string
	for _, t := range ts {
		traffic = append(traffic, mlv1.TrafficTarget{RevisionName: t.revision, Percent: t.percent, LatestRevision: t.revision == rev.name, ShadowPercent: t.shadow, Tag: t.tag})
		switch {
		case t.tag != "":
			summary = append(summary, fmt.Sprintf("%s:%s=%d%%", t.tag, t.revision, t.percent))
			continue
		case t.shadow > 0:
			summary = append(summary, fmt.Sprintf("%s=shadow %d%%", t.revision, t.shadow))
			continue
		}
		summary = append(summary, fmt.Sprintf("%s=%d%%", t.revision, t.percent))
	}
	return list, traffic, strings.Join(summary, ",")
}

// urls are where the model answers: status.url from the machine in skiff
// up (the cluster IP) or in the cluster, and the in-cluster address.
func (r *Reconciler) urls(ctx context.Context, ms *mlv1.ModelService, svc *corev1.Service) (string, *mlv1.Addressable) {
	internal := fmt.Sprintf("http://%s.%s.svc.%s", svc.Name, svc.Namespace, r.Options.ClusterDomain)
	url := internal
	if r.Options.Gateway != nil {
		if u := r.gatewayURL(ctx, ms); u != "" {
			return u, &mlv1.Addressable{URL: internal}
		}
	}
	if r.Options.URLFromClusterIP {
		url = ""
		if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
			url = "http://" + ip
		}
	}
	return url, &mlv1.Addressable{URL: internal}
}

// setConditions sets LatestRevisionReady, Serving and Ready.
func setConditions(ms *mlv1.ModelService, rev revision, o *observation) {
	latest, latestReady := o.latest, o.latestReady
	gen := ms.Generation
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&ms.Status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	switch {
	case latestReady:
		set(mlv1.ConditionLatestRevisionReady, metav1.ConditionTrue, ReasonServing, fmt.Sprintf("revision %s is ready", rev.name))
	case latest.reason != "":
		set(mlv1.ConditionLatestRevisionReady, metav1.ConditionFalse, latest.reason, fmt.Sprintf("revision %s: %s", rev.name, latest.detail))
	default:
		set(mlv1.ConditionLatestRevisionReady, metav1.ConditionUnknown, ReasonRevisionStarting, fmt.Sprintf("revision %s: %d of its pods ready", rev.name, latest.ready))
	}
	var serving []string
	for _, t := range ms.Status.Traffic {
		serving = append(serving, t.RevisionName)
	}
	onlyLatest := len(serving) == 1 && serving[0] == rev.name
	switch {
	case len(serving) == 0:
		set(mlv1.ConditionServing, metav1.ConditionFalse, ReasonNoReadyPods, "no revision has a ready pod")
	case slices.Contains(serving, rev.name):
		set(mlv1.ConditionServing, metav1.ConditionTrue, ReasonLatestRevision, "serving "+ms.Status.TrafficSummary)
	default:
		set(mlv1.ConditionServing, metav1.ConditionTrue, ReasonPreviousRevision, "serving "+ms.Status.TrafficSummary+" until "+rev.name+" is ready")
	}
	latestCond := meta.FindStatusCondition(ms.Status.Conditions, mlv1.ConditionLatestRevisionReady)
	ro := ms.Status.Rollout
	if ro != nil && ro.Revision != rev.name {
		ro = nil
	}
	switch {
	case o.trafficErr != nil:
		set(mlv1.ConditionReady, metav1.ConditionFalse, ReasonRevisionNotFound, o.trafficErr.Error())
	case o.zeroRefused:
		set(mlv1.ConditionReady, metav1.ConditionFalse, ReasonScaleToZeroUnavailable, "minReplicas 0 needs skiff's gateway, which holds requests while a revision at zero wakes, and this controller has none (skiff operator --gateway-metrics-url names it): serving with at least 1 pod. Deploy skiff's gateway (deploy/gateway), or set minReplicas to 1")
	case latestReady && len(ms.Spec.Traffic) > 0:
		set(mlv1.ConditionReady, metav1.ConditionTrue, ReasonVariants, fmt.Sprintf("variants %s (pin one with the %s header or cookie)", ms.Status.TrafficSummary, VariantHeader))
	case ro != nil && ro.Phase == mlv1.RolloutRolledBack:
		set(mlv1.ConditionReady, metav1.ConditionFalse, ReasonRolledBack, fmt.Sprintf("%s %s; %s serves all traffic: fix the predictor and apply it for a new revision", rev.name, ro.Message, ms.Status.StableRevision))
	case ro != nil && ro.Phase == mlv1.RolloutAborted:
		set(mlv1.ConditionReady, metav1.ConditionFalse, ReasonAborted, fmt.Sprintf("%s: %s", rev.name, ro.Message))
	case latestReady && ro != nil && ro.Phase == mlv1.RolloutProgressing:
		set(mlv1.ConditionReady, metav1.ConditionTrue, ReasonProgressing, fmt.Sprintf("canary %s: %s", rev.name, ro.Message))
	case latestReady && ro != nil && ro.Phase == mlv1.RolloutSwitched:
		set(mlv1.ConditionReady, metav1.ConditionTrue, ReasonSwitched, ro.Message)
	case latestReady && onlyLatest && latest.atZero && latest.pods == 0:
		set(mlv1.ConditionReady, metav1.ConditionTrue, ReasonScaledToZero, fmt.Sprintf("revision %s serves all traffic at %s; scaled to zero, the next request wakes it", rev.name, ms.Status.URL))
	case latestReady && onlyLatest:
		set(mlv1.ConditionReady, metav1.ConditionTrue, ReasonServing, fmt.Sprintf("revision %s serves all traffic at %s", rev.name, ms.Status.URL))
	case latestReady && shadowing(ms):
		set(mlv1.ConditionReady, metav1.ConditionTrue, ReasonShadow, fmt.Sprintf("shadow at %d%%: %s answers, %s gets copies (promote: remove shadowTrafficPercent)", *ms.Spec.Predictor.ShadowTrafficPercent, ms.Status.StableRevision, rev.name))
	case latestReady && canarying(ms):
		set(mlv1.ConditionReady, metav1.ConditionTrue, ReasonCanary, fmt.Sprintf("canary at %d%%: %s (promote: remove canaryTrafficPercent or set it to 100)", *ms.Spec.Predictor.CanaryTrafficPercent, ms.Status.TrafficSummary))
	case latestReady:
		set(mlv1.ConditionReady, metav1.ConditionUnknown, ReasonRollingOut, "old revisions are stopping: "+ms.Status.TrafficSummary)
	default:
		set(mlv1.ConditionReady, latestCond.Status, latestCond.Reason, latestCond.Message)
	}
}

// recordTransitions emits an event when the latest revision becomes ready
// or fails.
func (r *Reconciler) recordTransitions(ms *mlv1.ModelService, old *mlv1.ModelServiceStatus, rev revision, latest *revisionPods) {
	was := meta.FindStatusCondition(old.Conditions, mlv1.ConditionLatestRevisionReady)
	now := meta.FindStatusCondition(ms.Status.Conditions, mlv1.ConditionLatestRevisionReady)
	if was != nil && was.Status == now.Status && was.Reason == now.Reason {
		return
	}
	switch now.Status {
	case metav1.ConditionTrue:
		r.Recorder.Eventf(ms, nil, corev1.EventTypeNormal, "RevisionReady", "Serve", "revision %s is ready (%d pods)", rev.name, latest.ready)
	case metav1.ConditionFalse:
		r.Recorder.Eventf(ms, nil, corev1.EventTypeWarning, "RevisionFailed", "Serve", "%s; the previous revision keeps serving", now.Message)
	}
}

// canarying says whether the traffic is the canary split the spec asks
// for (0% is a canary held back: all on the stable revision).
func canarying(ms *mlv1.ModelService) bool {
	c := ms.Spec.Predictor.CanaryTrafficPercent
	return c != nil && *c < 100 && beside(ms)
}

// shadowing says whether the latest revision gets copies of requests.
func shadowing(ms *mlv1.ModelService) bool {
	return ms.Spec.Predictor.ShadowTrafficPercent != nil && beside(ms)
}

// beside says whether the latest revision runs beside a stable one.
func beside(ms *mlv1.ModelService) bool {
	return ms.Status.StableRevision != "" && ms.Status.StableRevision != ms.Status.LatestCreatedRevision
}
