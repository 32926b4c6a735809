package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/tune/suggest"
)

// Experiment condition types.
const (
	ConditionRunning   = "Running"
	ConditionSucceeded = "Succeeded"
	ConditionFailed    = "Failed"
)

// Reconciler runs Experiments: it creates trials up to the parallel and
// total budgets with suggested parameters, stops trials the early
// stopping rule gives up on, and records the best trial and the end.
// Everything it decides comes from the Trial objects, so a restart
// continues where the last one left off: a trial's name is its number,
// and its parameters are a function of the seed, the number and the
// trials before it.
type Reconciler struct {
	Client   client.Client
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=ml.skiff.dev,resources=experiments,verbs=get;list;watch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=experiments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=experiments/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&mlv1.Experiment{}).
		Owns(&mlv1.Trial{}).
		Owns(&corev1.PersistentVolumeClaim{}).
		// A version registered from a best trial says when it is Ready.
		Watches(&mlv1.ModelVersion{}, handler.EnqueueRequestsFromMapFunc(registeringExperiment)).
		Named("experiment").
		Complete(r)
}

// plan is what the Experiment's spec means for the algorithms.
type plan struct {
	sampler suggest.Sampler
	stopper suggest.Stopper
}

func newPlan(exp *mlv1.Experiment) (*plan, error) {
	sp, err := space(exp.Spec.Parameters)
	if err != nil {
		return nil, err
	}
	sampler, err := suggest.New(exp.Spec.Algorithm.AlgorithmName, sp, settings(exp.Spec.Algorithm.AlgorithmSettings), seed(exp))
	if err != nil {
		return nil, fmt.Errorf("spec.algorithm: %w", err)
	}
	var esName string
	var esSettings suggest.Settings
	if es := exp.Spec.EarlyStopping; es != nil {
		esName, esSettings = es.AlgorithmName, settings(es.AlgorithmSettings)
	}
	stopper, err := suggest.NewStopper(esName, esSettings, exp.Spec.Algorithm.AlgorithmName, settings(exp.Spec.Algorithm.AlgorithmSettings))
	if err != nil {
		return nil, fmt.Errorf("spec.earlyStopping: %w", err)
	}
	if stopper != nil && metricsFile(exp.Spec.MetricsCollectorSpec) != "" {
		return nil, fmt.Errorf("early stopping (spec.earlyStopping, or algorithm %s) judges values while trials run, and the File collector's values reach skiff only when a trial ends: print the metrics (collector kind StdOut) to stop trials early",
			exp.Spec.Algorithm.AlgorithmName)
	}
	return &plan{sampler: sampler, stopper: stopper}, nil
}

// seed is the Experiment's own, from its UID, so that a restart suggests
// the same trials (random_state overrides it).
func seed(exp *mlv1.Experiment) int64 {
	h := fnv.New64a()
	h.Write([]byte(exp.UID))
	return int64(h.Sum64() >> 1)
}

// Reconcile brings one Experiment along.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var exp mlv1.Experiment
	if err := r.Client.Get(ctx, req.NamespacedName, &exp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if exp.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	// This controller alone writes the status: a merge patch, so that a
	// cache behind its last write does not conflict.
	orig := exp.DeepCopy()
	// The trials are the cache's own objects, not copies: an Experiment of
	// 10,000 trials would copy megabytes on every reconcile. Nothing here
	// changes them in place (stopEarly copies the one it writes).
	var list mlv1.TrialList
	if err := r.Client.List(ctx, &list, client.InNamespace(exp.Namespace), client.MatchingLabels{LabelExperiment: exp.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	trials := owned(&exp, list.Items)
	p, err := newPlan(&exp)
	if err != nil {
		return ctrl.Result{}, r.setStatus(ctx, &exp, orig, trials, ConditionFailed, "InvalidSpec", err.Error())
	}
	history := toSuggest(&exp, trials)
	if err := r.stopEarly(ctx, &exp, p, trials, history); err != nil {
		return ctrl.Result{}, err
	}
	c := count(trials)
	if cond, reason, msg := ended(&exp, c, best(&exp, trials)); cond != "" {
		return ctrl.Result{}, r.finish(ctx, &exp, orig, trials, cond, reason, msg)
	}
	created, exhausted, err := r.createTrials(ctx, &exp, p, trials, history, c)
	var invalid invalidTemplate
	if errors.As(err, &invalid) {
		return ctrl.Result{}, r.setStatus(ctx, &exp, orig, trials, ConditionFailed, "InvalidTrialTemplate", invalid.Error())
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	trials = append(trials, created...)
	if exhausted && count(trials).active == 0 {
		return ctrl.Result{}, r.finish(ctx, &exp, orig, trials, ConditionSucceeded, "SearchSpaceExhausted", "every point of the search space was tried")
	}
	return ctrl.Result{}, r.setStatus(ctx, &exp, orig, trials, ConditionRunning, "TrialsRunning", fmt.Sprintf("%d trials running", count(trials).active))
}

// finish records the end; a succeeded Experiment with spec.register
// registers its best trial first, so that one status write says both.
func (r *Reconciler) finish(ctx context.Context, exp, orig *mlv1.Experiment, trials []mlv1.Trial, condition, reason, message string) error {
	if condition == ConditionSucceeded && exp.Spec.Register != nil {
		if err := r.register(ctx, exp, best(exp, trials)); err != nil {
			return err
		}
	}
	return r.setStatus(ctx, exp, orig, trials, condition, reason, message)
}

// owned are the trials the Experiment controls, by number.
func owned(exp *mlv1.Experiment, items []mlv1.Trial) []mlv1.Trial {
	var out []mlv1.Trial
	for _, t := range items {
		if metav1.IsControlledBy(&t, exp) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return number(&out[i]) < number(&out[j]) })
	return out
}

func number(t *mlv1.Trial) int {
	n, err := strconv.Atoi(t.Labels[LabelTrialNumber])
	if err != nil {
		return -1
	}
	return n
}

// toSuggest is the trials as the algorithms see them: values to
// minimize.
func toSuggest(exp *mlv1.Experiment, trials []mlv1.Trial) []suggest.Trial {
	sign := 1.0
	if exp.Spec.Objective.Type == mlv1.ObjectiveMaximize {
		sign = -1
	}
	var out []suggest.Trial
	for i := range trials {
		t := &trials[i]
		st := suggest.Trial{Number: number(t), Assignment: suggest.Assignment{}, State: suggest.Running}
		for _, a := range t.Spec.ParameterAssignments {
			st.Assignment[a.Name] = a.Value
		}
		for _, p := range t.Status.History {
			if v, err := strconv.ParseFloat(p.Value, 64); err == nil {
				st.Points = append(st.Points, suggest.Point{Step: p.Step, Value: sign * v})
			}
		}
		switch t.Status.Phase {
		case mlv1.TrialSucceeded:
			v, err := strconv.ParseFloat(objectiveValue(t), 64)
			st.State, st.Value = suggest.Complete, sign*v
			if err != nil {
				st.State = suggest.Failed
			}
		case mlv1.TrialEarlyStopped:
			st.State = suggest.Stopped
		case mlv1.TrialFailed, mlv1.TrialMetricsUnavailable:
			st.State = suggest.Failed
		}
		out = append(out, st)
	}
	return out
}

// stopEarly marks the running trials the rule gives up on EarlyStopped;
// their controller then stops their Jobs.
func (r *Reconciler) stopEarly(ctx context.Context, exp *mlv1.Experiment, p *plan, trials []mlv1.Trial, history []suggest.Trial) error {
	if p.stopper == nil {
		return nil
	}
	for i := range trials {
		if trials[i].Status.Phase.Finished() || history[i].State != suggest.Running {
			continue
		}
		stop, why := p.stopper.Stop(history[i], history)
		if !stop {
			continue
		}
		t := trials[i].DeepCopy()
		now := metav1.Now()
		t.Status.Phase, t.Status.CompletionTime = mlv1.TrialEarlyStopped, &now
		setCondition(t, mlv1.TrialEarlyStopped, "EarlyStopped", "stopped early: "+why)
		// An update, not a patch: it must not land on a trial that ended
		// meanwhile (a conflict is judged again at the next reconcile).
		if err := r.Client.Status().Update(ctx, t); err != nil {
			return client.IgnoreNotFound(err)
		}
		trials[i], history[i].State = *t, suggest.Stopped
		r.Recorder.Eventf(exp, t, corev1.EventTypeNormal, "TrialEarlyStopped", "Stop", "trial %s stopped early: %s", t.Name, why)
	}
	return nil
}

// counts are the trials by phase; active are those not finished, of
// which pending have no Job yet.
type counts struct {
	total, active, pending, succeeded, failed, earlyStopped int
}

func count(trials []mlv1.Trial) counts {
	c := counts{total: len(trials)}
	for _, t := range trials {
		switch t.Status.Phase {
		case mlv1.TrialSucceeded:
			c.succeeded++
		case mlv1.TrialFailed, mlv1.TrialMetricsUnavailable:
			c.failed++
		case mlv1.TrialEarlyStopped:
			c.earlyStopped++
		case "", mlv1.TrialPending:
			c.active++
			c.pending++
		default:
			c.active++
		}
	}
	return c
}

// best is the succeeded trial with the best objective, nil before one.
func best(exp *mlv1.Experiment, trials []mlv1.Trial) *mlv1.Trial {
	var out *mlv1.Trial
	bestValue := math.Inf(1)
	sign := 1.0
	if exp.Spec.Objective.Type == mlv1.ObjectiveMaximize {
		sign = -1
	}
	for i := range trials {
		t := &trials[i]
		v, err := strconv.ParseFloat(objectiveValue(t), 64)
		if t.Status.Phase != mlv1.TrialSucceeded || err != nil {
			continue
		}
		if sign*v < bestValue {
			out, bestValue = t, sign*v
		}
	}
	return out
}

// ended says whether the Experiment is over, and why: too many failed
// trials, the goal reached, or the trial budget spent.
func ended(exp *mlv1.Experiment, c counts, bestTrial *mlv1.Trial) (condition, reason, message string) {
	spec := exp.Spec
	if spec.MaxFailedTrialCount != nil && int32(c.failed) > *spec.MaxFailedTrialCount {
		return ConditionFailed, "MaxFailedTrialsReached", fmt.Sprintf("%d trials failed, more than maxFailedTrialCount %d (kubectl describe trial shows why)", c.failed, *spec.MaxFailedTrialCount)
	}
	if g := spec.Objective.Goal; g != nil && bestTrial != nil {
		v, _ := strconv.ParseFloat(objectiveValue(bestTrial), 64)
		if (spec.Objective.Type == mlv1.ObjectiveMaximize && v >= *g) || (spec.Objective.Type == mlv1.ObjectiveMinimize && v <= *g) {
			return ConditionSucceeded, "GoalReached", fmt.Sprintf("trial %s reached the goal: %s %s", bestTrial.Name, spec.Objective.ObjectiveMetricName, objectiveValue(bestTrial))
		}
	}
	if spec.MaxTrialCount != nil && int32(c.total-c.active) >= *spec.MaxTrialCount {
		return ConditionSucceeded, "MaxTrialsReached", fmt.Sprintf("%d trials finished (maxTrialCount)", c.total-c.active)
	}
	return "", "", ""
}

// invalidTemplate is a trial template that does not make a trial: the
// Experiment fails, no retry can help.
type invalidTemplate struct{ error }

// createTrials adds trials while slots and budget allow; exhausted says
// the algorithm has nothing left to suggest.

func (r *Reconciler) createTrials(ctx context.Context, exp *mlv1.Experiment, p *plan, trials []mlv1.Trial, history []suggest.Trial, c counts) (created []mlv1.Trial, exhausted bool, err error) {
	n := 0
	for i := range trials {
		n = max(n, number(&trials[i])+1)
	}
	slots := int(exp.Spec.ParallelTrialCount) - c.active
	if exp.Spec.MaxTrialCount != nil {
		slots = min(slots, int(*exp.Spec.MaxTrialCount)-c.total)
	}
	if slots > 0 && exp.Spec.Register != nil {
		if err := r.ensureOutputClaim(ctx, exp); err != nil {
			return nil, false, err
		}
	}
	for ; slots > 0; slots-- {
		a, err := p.sampler.Sample(n, history)
		if errors.Is(err, suggest.ErrExhausted) {
			return created, true, nil
		}
		if err != nil {
			return created, false, err
		}
		t, err := newTrial(exp, n, a, r.Client.Scheme())
		if err != nil {
			return created, false, invalidTemplate{err}
		}
		switch err := r.Client.Create(ctx, t); {
		case apierrors.IsAlreadyExists(err):
			// Made by an earlier reconcile the cache has not shown yet.
		case err != nil:
			return created, false, fmt.Errorf("creating trial %s: %w", t.Name, err)
		default:
			r.Recorder.Eventf(exp, t, corev1.EventTypeNormal, "TrialCreated", "Suggest", "trial %s: %s", t.Name, summary(t.Spec.ParameterAssignments))
		}
		created = append(created, *t)
		history = append(history, suggest.Trial{Number: n, Assignment: a, State: suggest.Running})
		n++
	}
	return created, false, nil
}

// newTrial is trial number n of the Experiment with assignment a.
func newTrial(exp *mlv1.Experiment, n int, a suggest.Assignment, scheme *runtime.Scheme) (*mlv1.Trial, error) {
	name := fmt.Sprintf("%s-%d", exp.Name, n)
	job, err := renderJob(exp.Spec.TrialTemplate, a, name, exp.Namespace)
	if err != nil {
		return nil, err
	}
	if err := primaryContainer(job, exp.Spec.TrialTemplate.PrimaryContainerName); err != nil {
		return nil, err
	}
	if file := metricsFile(exp.Spec.MetricsCollectorSpec); file != "" {
		// The trial's controller wraps the command; a template it cannot
		// wrap is refused here, before any trial.
		if err := wrapForFile(job.DeepCopy(), exp.Spec.TrialTemplate.PrimaryContainerName, file); err != nil {
			return nil, fmt.Errorf("spec.trialTemplate.trialSpec: %w", err)
		}
	}
	if exp.Spec.Register != nil {
		mountOutput(job, exp, name)
	}
	raw, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	t := &mlv1.Trial{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: exp.Namespace,
			Labels: map[string]string{LabelExperiment: exp.Name, LabelTrialNumber: strconv.Itoa(n)}},
		Spec: mlv1.TrialSpec{
			Objective: exp.Spec.Objective, RunSpec: runtime.RawExtension{Raw: raw},
			PrimaryContainerName: exp.Spec.TrialTemplate.PrimaryContainerName,
			MetricsCollector:     exp.Spec.MetricsCollectorSpec, Retain: exp.Spec.TrialTemplate.Retain,
		},
	}
	for _, p := range exp.Spec.Parameters {
		t.Spec.ParameterAssignments = append(t.Spec.ParameterAssignments, mlv1.ParameterAssignment{Name: p.Name, Value: a[p.Name]})
	}
	return t, controllerutil.SetControllerReference(exp, t, scheme)
}

// setStatus writes the counts, the best trial and the condition: a merge
// patch from orig, the Experiment as read.
func (r *Reconciler) setStatus(ctx context.Context, exp, orig *mlv1.Experiment, trials []mlv1.Trial, condition, reason, message string) error {
	c := count(trials)
	s := &exp.Status
	before := &orig.Status
	s.Trials, s.TrialsSucceeded, s.TrialsFailed, s.TrialsEarlyStopped = int32(c.total), int32(c.succeeded), int32(c.failed), int32(c.earlyStopped)
	s.TrialsRunning, s.TrialsPending = int32(c.active-c.pending), int32(c.pending)
	if b := best(exp, trials); b != nil {
		s.CurrentOptimalTrial = &mlv1.OptimalTrial{BestTrialName: b.Name, ParameterAssignments: slices.Clone(b.Spec.ParameterAssignments), Observation: b.Status.Observation.DeepCopy()}
	}
	if s.StartTime == nil {
		now := metav1.Now()
		s.StartTime = &now
	}
	was := meta.FindStatusCondition(s.Conditions, condition)
	for _, t := range []string{ConditionRunning, ConditionSucceeded, ConditionFailed} {
		status := metav1.ConditionFalse
		if t == condition {
			status = metav1.ConditionTrue
		}
		if t != condition && meta.FindStatusCondition(s.Conditions, t) == nil {
			continue
		}
		meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: message, ObservedGeneration: exp.Generation})
	}
	if condition != ConditionRunning && (was == nil || was.Status != metav1.ConditionTrue) {
		now := metav1.Now()
		s.CompletionTime = &now
		kind := corev1.EventTypeNormal
		if condition == ConditionFailed {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(exp, nil, kind, reason, "End", "%s", message)
	}
	if condition == ConditionRunning {
		s.CompletionTime = nil
	}
	s.ObservedGeneration = exp.Generation
	if equality.Semantic.DeepEqual(before, s) {
		// Most reconciles change nothing: an empty patch still costs the
		// API server a full update.
		return nil
	}
	return r.Client.Status().Patch(ctx, exp, client.MergeFrom(orig))
}
