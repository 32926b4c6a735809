package modelservice

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// AnnotationRolloutAction asks for a rollout to end now:
// "promote:<revision>" or "abort:<revision>" (skiff rollout promote|abort
// writes it). It names the revision so that it never acts on a later one.
const AnnotationRolloutAction = "ml.skiff.dev/rollout-action"

// historyLimit is how many ended rollouts status keeps.
const historyLimit = 10

// rolloutPlan is the rollout's next status, the traffic it gives, and
// when to look again.
type rolloutPlan struct {
	status  *mlv1.RolloutStatus
	traffic []target
	requeue time.Duration
}

// progress moves the latest revision's rollout along spec.rollout, from
// what status recorded: every decision is in status, so a restarted
// controller carries on where it stopped.
func (r *Reconciler) progress(ctx context.Context, ms *mlv1.ModelService, latest string, latestReady bool, stable string, now time.Time) rolloutPlan {
	spec := ms.Spec.Rollout
	st := ms.Status.Rollout.DeepCopy()
	if spec == nil || stable == "" || stable == latest {
		if st != nil && !ended(st.Phase) && (spec == nil || stable == latest) {
			finish(st, mlv1.RolloutPromoted, "spec.rollout was removed: the latest revision takes all traffic once ready", now)
		}
		return rolloutPlan{status: st, traffic: split(&ms.Spec.Predictor, latest, latestReady, stable)}
	}
	if st == nil || st.Revision != latest {
		st = start(st, spec, latest, now)
	}
	switch verb, rev, _ := strings.Cut(ms.Annotations[AnnotationRolloutAction], ":"); {
	case rev != latest:
	case verb == "promote" && st.Phase != mlv1.RolloutPromoted && latestReady:
		// (Until the latest is ready the request waits: promoting it would
		// send every request to a revision that cannot answer.)
		finish(st, mlv1.RolloutPromoted, "promoted on request (skiff rollout promote)", now)
	case verb == "abort" && !ended(st.Phase):
		finish(st, mlv1.RolloutAborted, "aborted on request (skiff rollout abort): the stable revision "+stable+" has all traffic", now)
	}
	if !latestReady && st.Phase != mlv1.RolloutPromoted {
		return rolloutPlan{status: st, traffic: []target{{revision: stable, percent: 100}}}
	}
	var requeue time.Duration
	if st.Phase == mlv1.RolloutProgressing {
		if strategy(st) == mlv1.RolloutBlueGreen {
			st.Phase, st.Weight, st.StepStartTime = mlv1.RolloutSwitched, 100, ptrTime(now)
			st.Message = fmt.Sprintf("all traffic switched to %s; %s is kept at its minimum size until promoted (skiff rollout abort switches back)", latest, stable)
		} else {
			requeue = r.canaryStep(ctx, ms, spec, st, stable, now)
		}
	}
	return rolloutPlan{status: st, traffic: rolloutTraffic(st, latest, stable), requeue: requeue}
}

// canaryStep runs the current step: the analysis, then the next step once
// the pause is over and a window passed. It says when to look again.
func (r *Reconciler) canaryStep(ctx context.Context, ms *mlv1.ModelService, spec *mlv1.RolloutSpec, st *mlv1.RolloutStatus, stable string, now time.Time) time.Duration {
	if st.StepStartTime == nil {
		startStep(st, spec, 0, now)
	}
	if last := int32(len(spec.Steps)) - 1; st.Step > last {
		st.Step = last // the steps were shortened under it
	}
	pause := spec.Steps[st.Step].Pause.Duration
	left := pause - now.Sub(st.StepStartTime.Time)
	if a := spec.Analysis; a != nil {
		if held, wait := r.analyse(ctx, ms, a, st, stable, now); held || ended(st.Phase) {
			return wait
		}
		left = min(left, a.Interval.Duration)
	}
	if now.Sub(st.StepStartTime.Time) < pause {
		return max(left, time.Second)
	}
	if int(st.Step)+1 >= len(spec.Steps) {
		finish(st, mlv1.RolloutPromoted, fmt.Sprintf("promoted after %d steps", len(spec.Steps)), now)
		return 0
	}
	startStep(st, spec, st.Step+1, now)
	if a := spec.Analysis; a != nil {
		return min(spec.Steps[st.Step].Pause.Duration, a.Interval.Duration)
	}
	return spec.Steps[st.Step].Pause.Duration
}

// analyse judges the canary's window: it rolls back a canary that failed,
// and holds the step (held) until a window of this step has passed.
func (r *Reconciler) analyse(ctx context.Context, ms *mlv1.ModelService, a *mlv1.AnalysisSpec, st *mlv1.RolloutStatus, stable string, now time.Time) (held bool, wait time.Duration) {
	interval := a.Interval.Duration
	if r.analyzer == nil {
		st.Message = "held: spec.rollout.analysis reads skiff's gateway metrics, and this controller has no metrics address (skiff operator --gateway-metrics-url)"
		return true, interval
	}
	res, why, err := r.analyzer.judge(ctx, ms, a, st, stable, now)
	switch {
	case err != nil:
		st.Message = "held: the analysis cannot read the gateway's metrics: " + err.Error()
		return true, interval
	case res != nil:
		st.LastAnalysis = res
		if !res.Passed {
			finish(st, mlv1.RolloutRolledBack, fmt.Sprintf("rolled back at %d%%: %s", st.Weight, res.Message), now)
			return false, 0
		}
		st.Message = fmt.Sprintf("step %d of %d at %d%%: %s", st.Step+1, len(ms.Spec.Rollout.Steps), st.Weight, res.Message)
	default:
		st.Message = fmt.Sprintf("step %d of %d at %d%%: %s", st.Step+1, len(ms.Spec.Rollout.Steps), st.Weight, why)
	}
	// Only a window of this step counts: the one that ended the last step
	// says nothing of this weight.
	passed := st.LastAnalysis != nil && st.LastAnalysis.Passed && st.LastAnalysis.Step == st.Step && !st.LastAnalysis.Time.Before(st.StepStartTime)
	return !passed && now.Sub(st.StepStartTime.Time) >= ms.Spec.Rollout.Steps[st.Step].Pause.Duration, interval
}

// start begins the rollout of latest; one still under way for an older
// revision is recorded as superseded.
func start(old *mlv1.RolloutStatus, spec *mlv1.RolloutSpec, latest string, now time.Time) *mlv1.RolloutStatus {
	st := &mlv1.RolloutStatus{Revision: latest, Strategy: spec.Strategy, Phase: mlv1.RolloutProgressing, Message: "waiting for " + latest + " to be ready"}
	if st.Strategy == "" {
		st.Strategy = mlv1.RolloutCanary
	}
	if old != nil {
		if !ended(old.Phase) {
			finish(old, mlv1.RolloutSuperseded, "replaced by "+latest+" before it ended", now)
		}
		st.History = old.History
	}
	return st
}

func startStep(st *mlv1.RolloutStatus, spec *mlv1.RolloutSpec, step int32, now time.Time) {
	st.Step, st.Weight, st.StepStartTime = step, spec.Steps[step].SetWeight, ptrTime(now)
	st.Message = fmt.Sprintf("step %d of %d: %d%% of requests to %s for %s", step+1, len(spec.Steps), st.Weight, st.Revision, spec.Steps[step].Pause.Duration)
}

// finish ends a rollout and records it in the history.
func finish(st *mlv1.RolloutStatus, phase mlv1.RolloutPhase, msg string, now time.Time) {
	st.Phase, st.Message = phase, msg
	switch phase {
	case mlv1.RolloutPromoted:
		st.Weight = 100
	case mlv1.RolloutRolledBack, mlv1.RolloutAborted:
		st.Weight = 0
	}
	rec := mlv1.RolloutRecord{Revision: st.Revision, Strategy: strategy(st), Phase: phase, Time: metav1.NewTime(now), Message: msg}
	st.History = append([]mlv1.RolloutRecord{rec}, st.History...)
	if len(st.History) > historyLimit {
		st.History = st.History[:historyLimit]
	}
}

// ended says whether a rollout in this phase has ended.
func ended(p mlv1.RolloutPhase) bool {
	return p != mlv1.RolloutProgressing && p != mlv1.RolloutSwitched
}

func strategy(st *mlv1.RolloutStatus) mlv1.RolloutStrategy {
	if st.Strategy == "" {
		return mlv1.RolloutCanary
	}
	return st.Strategy
}

// rolloutTraffic is the split a rollout in its phase gives. Revisions at
// 0% stay listed so that they keep running (a rollback, a blue/green
// switch back, is then immediate).
func rolloutTraffic(st *mlv1.RolloutStatus, latest, stable string) []target {
	switch st.Phase {
	case mlv1.RolloutPromoted:
		return []target{{revision: latest, percent: 100}}
	case mlv1.RolloutSwitched:
		return []target{{revision: latest, percent: 100}, {revision: stable}}
	case mlv1.RolloutProgressing:
		if st.Weight >= 100 {
			return []target{{revision: latest, percent: 100}, {revision: stable}}
		}
		return []target{{revision: latest, percent: st.Weight}, {revision: stable, percent: 100 - st.Weight}}
	}
	return []target{{revision: stable, percent: 100}, {revision: latest}}
}

// recordRollout emits an event for each rollout decision status shows.
func (r *Reconciler) recordRollout(ms *mlv1.ModelService, old, now *mlv1.RolloutStatus) {
	if now == nil {
		return
	}
	same := old != nil && old.Revision == now.Revision
	if same && old.Phase == now.Phase && old.Step == now.Step && (old.StepStartTime == nil) == (now.StepStartTime == nil) {
		// The first window a step passes; later ones only refresh status.
		if a := now.LastAnalysis; a != nil && a.Passed && (old.LastAnalysis == nil || old.LastAnalysis.Step != a.Step || !old.LastAnalysis.Passed) {
			r.Recorder.Eventf(ms, nil, corev1.EventTypeNormal, "AnalysisPassed", "Rollout", "%s", a.Message)
		}
		return
	}
	switch now.Phase {
	case mlv1.RolloutProgressing:
		if now.StepStartTime != nil {
			r.Recorder.Eventf(ms, nil, corev1.EventTypeNormal, "RolloutStep", "Rollout", "%s", now.Message)
		}
	case mlv1.RolloutSwitched:
		r.Recorder.Eventf(ms, nil, corev1.EventTypeNormal, "TrafficSwitched", "Rollout", "%s", now.Message)
	case mlv1.RolloutPromoted:
		r.Recorder.Eventf(ms, nil, corev1.EventTypeNormal, "RolloutPromoted", "Rollout", "%s: %s", now.Revision, now.Message)
	case mlv1.RolloutRolledBack:
		r.Recorder.Eventf(ms, nil, corev1.EventTypeWarning, "RolledBack", "Rollout", "%s: %s", now.Revision, now.Message)
	case mlv1.RolloutAborted:
		r.Recorder.Eventf(ms, nil, corev1.EventTypeNormal, "RolloutAborted", "Rollout", "%s: %s", now.Revision, now.Message)
	}
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
