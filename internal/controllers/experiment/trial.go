package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/tune/metrics"
)

// Labels on trials and their Jobs.
const (
	LabelExperiment  = "ml.skiff.dev/experiment"
	LabelTrial       = "ml.skiff.dev/trial"
	LabelTrialNumber = "ml.skiff.dev/trial-number"
)

// historyLimit bounds a trial's stored intermediate values.
const historyLimit = 100

// Logs opens a container's log, as the API's pods/log does.
type Logs interface {
	Open(ctx context.Context, namespace, pod, container string, follow bool) (LogStream, error)
}

// LogStream is an open log.
type LogStream interface {
	Lines(each func(string)) error
	Close() error
}

// TrialReconciler runs a Trial's Job and reads its metrics from the
// primary container's log once the Job ends; while it runs, a follower
// keeps the intermediate values in the status for early stopping.
type TrialReconciler struct {
	Client client.Client
	// Pods is a cache of the trials' pods (those with the trial label),
	// apart from the manager's, which holds only ModelServices' pods: a
	// pod's start and end reconcile its trial at once, and reading the
	// pods costs the API nothing.
	Pods     cache.Cache
	Logs     Logs
	Recorder recorder.EventRecorder
	follow   *followers
}

// +kubebuilder:rbac:groups=ml.skiff.dev,resources=trials,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=trials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=trials/finalizers,verbs=update
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods/log,verbs=get

// SetupWithManager registers the controller.
func (r *TrialReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.follow = newFollowers()
	return ctrl.NewControllerManagedBy(mgr).
		For(&mlv1.Trial{}).
		Owns(&batchv1.Job{}).
		WatchesRawSource(source.Kind(r.Pods, &corev1.Pod{}, handler.TypedEnqueueRequestsFromMapFunc(trialOfPod))).
		WatchesRawSource(r.follow.source()).
		Named("trial").
		// Trials are independent, and a finish reads a whole log: many
		// at once keep parallel trials from queueing behind each other.
		WithOptions(controller.Options{MaxConcurrentReconciles: 16}).
		Complete(r)
}

// Reconcile brings one Trial along: its Job created, its end recorded,
// its Job removed once the result is in (unless retained).
func (r *TrialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var trial mlv1.Trial
	if err := r.Client.Get(ctx, req.NamespacedName, &trial); err != nil {
		r.follow.stop(req.NamespacedName)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if trial.Status.Phase.Finished() {
		r.follow.stop(req.NamespacedName)
		return ctrl.Result{}, r.cleanUp(ctx, &trial)
	}
	// Status is written as a merge patch of what changed: the cache may
	// lag behind the last write, and a conflict would only delay it.
	base := client.MergeFrom(trial.DeepCopy())
	var job batchv1.Job
	err := r.Client.Get(ctx, req.NamespacedName, &job)
	if apierrors.IsNotFound(err) {
		return ctrl.Result{}, r.createJob(ctx, &trial, base)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if done, failed, why := jobEnded(&job); done {
		r.follow.stop(req.NamespacedName)
		return ctrl.Result{}, r.finish(ctx, &trial, &job, failed, why)
	}
	pod, err := latestPod(ctx, r.Pods, &job)
	if err != nil {
		return ctrl.Result{}, err
	}
	if podSucceeded(&job, pod) {
		r.follow.stop(req.NamespacedName)
		return ctrl.Result{}, r.finish(ctx, &trial, &job, false, "")
	}
	if pod == nil || !started(pod, trial.Spec.PrimaryContainerName) {
		return ctrl.Result{}, nil
	}
	r.follow.start(ctx, r, &trial, pod)
	if terminated(pod, trial.Spec.PrimaryContainerName) {
		// The pod's end comes next, with the whole log read: progress
		// written now would be overwritten at once.
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.recordProgress(ctx, &trial, base)
}

// trialOfPod is the trial a pod runs, by its label.
func trialOfPod(_ context.Context, pod *corev1.Pod) []reconcile.Request {
	name := pod.Labels[LabelTrial]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: name}}}
}

func (r *TrialReconciler) createJob(ctx context.Context, trial *mlv1.Trial, base client.Patch) error {
	var job batchv1.Job
	if err := json.Unmarshal(trial.Spec.RunSpec.Raw, &job); err != nil {
		return r.fail(ctx, trial, base, mlv1.TrialFailed, "InvalidRunSpec", fmt.Sprintf("spec.runSpec is not a Job: %v", err))
	}
	if file := metricsFile(trial.Spec.MetricsCollector); file != "" {
		if err := wrapForFile(&job, trial.Spec.PrimaryContainerName, file); err != nil {
			return r.fail(ctx, trial, base, mlv1.TrialFailed, "InvalidRunSpec", "spec.runSpec: "+err.Error())
		}
	}
	job.Name, job.Namespace, job.ResourceVersion = trial.Name, trial.Namespace, ""
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels[LabelTrial] = trial.Name
	job.Labels[LabelExperiment] = trial.Labels[LabelExperiment]
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	job.Spec.Template.Labels[LabelTrial] = trial.Name
	job.Spec.Template.Labels[LabelExperiment] = trial.Labels[LabelExperiment]
	if err := controllerutil.SetControllerReference(trial, &job, r.Client.Scheme()); err != nil {
		return err
	}
	if err := r.Client.Create(ctx, &job); err != nil && !apierrors.IsAlreadyExists(err) {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return r.fail(ctx, trial, base, mlv1.TrialFailed, "JobRefused", fmt.Sprintf("job %s was refused: %v", job.Name, err))
		}
		return err
	}
	r.Recorder.Eventf(trial, &job, corev1.EventTypeNormal, "JobCreated", "Run", "job %s runs the trial: %s", job.Name, summary(trial.Spec.ParameterAssignments))
	now := metav1.Now()
	trial.Status.Phase, trial.Status.JobName, trial.Status.StartTime = mlv1.TrialRunning, job.Name, &now
	trial.Status.ParametersSummary = summary(trial.Spec.ParameterAssignments)
	setCondition(trial, mlv1.TrialRunning, "JobCreated", "job "+job.Name+" runs the trial")
	return r.Client.Status().Patch(ctx, trial, base)
}

// jobEnded says whether the Job has ended, and how.
func jobEnded(job *batchv1.Job) (done, failed bool, why string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, false, ""
		case batchv1.JobFailed:
			return true, true, strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return false, false, ""
}

// podSucceeded says whether pod, the latest of a single-completion Job,
// has succeeded: the trial's result is in then, a second before the Job
// controller (which batches pod updates) marks the Job Complete.
func podSucceeded(job *batchv1.Job, pod *corev1.Pod) bool {
	if c := job.Spec.Completions; c != nil && *c != 1 {
		return false
	}
	if p := job.Spec.Parallelism; p != nil && *p > 1 {
		return false
	}
	return pod != nil && pod.Status.Phase == corev1.PodSucceeded
}

// finish reads the metrics from the whole log of the Job's last pod and
// records the trial's result. The result is written with optimistic
// locking: a reconcile from a cache that has not seen it yet finds a
// conflict, not a trial to finish again (and no second event).
func (r *TrialReconciler) finish(ctx context.Context, trial *mlv1.Trial, job *batchv1.Job, failed bool, why string) error {
	base := client.MergeFromWithOptions(trial.DeepCopy(), client.MergeFromWithOptimisticLock{})
	reader, err := r.readAll(ctx, trial, job)
	if err != nil {
		return err
	}
	obs, history, missing := observe(trial, reader)
	trial.Status.Observation, trial.Status.History = obs, history
	switch {
	case failed:
		return r.fail(ctx, trial, base, mlv1.TrialFailed, "JobFailed", "job "+job.Name+" failed: "+why)
	case missing != "":
		return r.fail(ctx, trial, base, mlv1.TrialMetricsUnavailable, "MetricsUnavailable", missing)
	}
	now := metav1.Now()
	trial.Status.Phase, trial.Status.CompletionTime = mlv1.TrialSucceeded, &now
	setCondition(trial, mlv1.TrialSucceeded, "JobSucceeded", fmt.Sprintf("%s %s", trial.Spec.Objective.ObjectiveMetricName, obs.Metrics[0].Latest))
	if err := r.Client.Status().Patch(ctx, trial, base); err != nil {
		return ignoreConflict(err)
	}
	r.Recorder.Eventf(trial, job, corev1.EventTypeNormal, "TrialSucceeded", "Record", "%s=%s", trial.Spec.Objective.ObjectiveMetricName, objectiveValue(trial))
	return nil
}

func (r *TrialReconciler) fail(ctx context.Context, trial *mlv1.Trial, base client.Patch, phase mlv1.TrialPhase, reason, message string) error {
	now := metav1.Now()
	trial.Status.Phase, trial.Status.CompletionTime = phase, &now
	setCondition(trial, phase, reason, message)
	if err := r.Client.Status().Patch(ctx, trial, base); err != nil {
		return ignoreConflict(err)
	}
	r.Recorder.Eventf(trial, nil, corev1.EventTypeWarning, reason, "Record", "%s", message)
	return nil
}

// ignoreConflict drops a conflict: the trial changed since the cache's
// copy, and that change reconciles it again.
func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// readAll reads the primary container's log of the Job's latest pod.
func (r *TrialReconciler) readAll(ctx context.Context, trial *mlv1.Trial, job *batchv1.Job) (*metrics.Reader, error) {
	reader, err := newReader(trial)
	if err != nil {
		return nil, err
	}
	pod, err := latestPod(ctx, r.Pods, job)
	if err != nil || pod == nil {
		return reader, err
	}
	stream, err := r.Logs.Open(ctx, pod.Namespace, pod.Name, trial.Spec.PrimaryContainerName, false)
	if err != nil {
		return nil, fmt.Errorf("reading the log of pod %s: %w", pod.Name, err)
	}
	defer stream.Close()
	return reader, stream.Lines(collectedLines(trial, reader.Line))
}

// latestPod is the Job's newest pod, nil when it has none.
func latestPod(ctx context.Context, c client.Reader, job *batchv1.Job) (*corev1.Pod, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{"job-name": job.Name}); err != nil {
		return nil, err
	}
	if len(pods.Items) == 0 {
		return nil, nil
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[i].CreationTimestamp.Before(&pods.Items[j].CreationTimestamp)
	})
	return &pods.Items[len(pods.Items)-1], nil
}

func newReader(trial *mlv1.Trial) (*metrics.Reader, error) {
	names := append([]string{trial.Spec.Objective.ObjectiveMetricName}, trial.Spec.Objective.AdditionalMetricNames...)
	var formats []string
	if mc := trial.Spec.MetricsCollector; mc != nil && mc.Source != nil && mc.Source.Filter != nil {
		formats = mc.Source.Filter.MetricsFormat
	}
	return metrics.NewReader(names, formats, historyLimit)
}

// observe is the trial's observation and the objective's history from
// what reader read; missing is the message when the objective was never
// printed.
func observe(trial *mlv1.Trial, reader *metrics.Reader) (*mlv1.Observation, []mlv1.MetricPoint, string) {
	obj := trial.Spec.Objective
	obs := &mlv1.Observation{}
	for _, name := range append([]string{obj.ObjectiveMetricName}, obj.AdditionalMetricNames...) {
		s, ok := reader.Summary(name)
		if !ok {
			if file := metricsFile(trial.Spec.MetricsCollector); name == obj.ObjectiveMetricName && file != "" && reader.LinesRead() == 0 {
				return nil, nil, fmt.Sprintf("metric %q was not reported: the metrics file %s was not written, or was empty (write lines such as %s=0.93 to it)", name, file, name)
			}
			if name == obj.ObjectiveMetricName {
				return nil, nil, reader.Missing(name)
			}
			continue
		}
		obs.Metrics = append(obs.Metrics, mlv1.Metric{Name: name, Min: format(s.Min), Max: format(s.Max), Latest: format(s.Value(strategy(obj, name)))})
	}
	var history []mlv1.MetricPoint
	for _, p := range reader.Points(obj.ObjectiveMetricName) {
		history = append(history, mlv1.MetricPoint{Step: p.Step, Value: format(p.Value)})
	}
	return obs, history, ""
}

// strategy is the value a metric reports: as the Experiment says, else
// the best for the objective and the latest for the others. Latest holds
// it, so that kubectl's columns show the value the search uses.
func strategy(obj mlv1.ObjectiveSpec, name string) metrics.Strategy {
	for _, s := range obj.MetricStrategies {
		if s.Name == name {
			return metrics.Strategy(s.Value)
		}
	}
	switch {
	case name != obj.ObjectiveMetricName:
		return metrics.Latest
	case obj.Type == mlv1.ObjectiveMaximize:
		return metrics.Max
	}
	return metrics.Min
}

// recordProgress writes the follower's intermediate values, when there
// are new ones.
func (r *TrialReconciler) recordProgress(ctx context.Context, trial *mlv1.Trial, base client.Patch) error {
	reader := r.follow.reader(client.ObjectKeyFromObject(trial))
	if reader == nil {
		return nil
	}
	obs, history, missing := observe(trial, reader)
	if missing != "" || sameLast(history, trial.Status.History) {
		return nil
	}
	trial.Status.Observation, trial.Status.History = obs, history
	return r.Client.Status().Patch(ctx, trial, base)
}

// sameLast says whether two histories end alike: once a history holds
// its limit its length stays, so the last point tells what is new.
func sameLast(a, b []mlv1.MetricPoint) bool {
	return len(a) == len(b) && (len(a) == 0 || a[len(a)-1] == b[len(b)-1])
}

// cleanUp removes a finished trial's Job (and so its pods), unless the
// trial is retained; an early-stopped retained trial's Job is suspended.
func (r *TrialReconciler) cleanUp(ctx context.Context, trial *mlv1.Trial) error {
	var job batchv1.Job
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(trial), &job); err != nil {
		return client.IgnoreNotFound(err)
	}
	if trial.Spec.Retain {
		if _, ended, _ := jobEnded(&job); !ended && (job.Spec.Suspend == nil || !*job.Spec.Suspend) {
			suspend := true
			job.Spec.Suspend = &suspend
			return r.Client.Update(ctx, &job)
		}
		return nil
	}
	return client.IgnoreNotFound(r.Client.Delete(ctx, &job, client.PropagationPolicy(metav1.DeletePropagationBackground)))
}

func setCondition(trial *mlv1.Trial, phase mlv1.TrialPhase, reason, message string) {
	for _, t := range []mlv1.TrialPhase{mlv1.TrialRunning, mlv1.TrialSucceeded, mlv1.TrialFailed, mlv1.TrialEarlyStopped, mlv1.TrialMetricsUnavailable} {
		status := metav1.ConditionFalse
		if t == phase {
			status = metav1.ConditionTrue
		}
		if t != phase && meta.FindStatusCondition(trial.Status.Conditions, string(t)) == nil {
			continue
		}
		meta.SetStatusCondition(&trial.Status.Conditions, metav1.Condition{Type: string(t), Status: status, Reason: reason, Message: message, ObservedGeneration: trial.Generation})
	}
}

func summary(a []mlv1.ParameterAssignment) string {
	parts := make([]string, len(a))
	for i, p := range a {
		parts[i] = p.Name + "=" + p.Value
	}
	return strings.Join(parts, ", ")
}

// objectiveValue is the trial's objective as recorded, "" without one.
func objectiveValue(trial *mlv1.Trial) string {
	if trial.Status.Observation == nil || len(trial.Status.Observation.Metrics) == 0 {
		return ""
	}
	return trial.Status.Observation.Metrics[0].Latest
}

// format writes a metric's value as Katib does: a plain decimal string.
func format(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
