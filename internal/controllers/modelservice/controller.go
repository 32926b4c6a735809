// Package modelservice is the ModelService controller: it keeps a
// Deployment of model server pods, a Service and, when the ModelService
// may scale, a HorizontalPodAutoscaler in line with each ModelService, and
// reports revisions, traffic and readiness in its status. It talks only to
// the Kubernetes API, so it runs in skiff up and as an operator alike.
package modelservice

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// Options are what differs between the clusters the controller serves.
type Options struct {
	// ModelServerImage runs `skiff serve-model` (its entrypoint is the
	// skiff binary).
	ModelServerImage string
	// URLFromClusterIP makes status.url the Service's cluster IP, which
	// skiff up's machine reaches; otherwise it is the in-cluster DNS name.
	URLFromClusterIP bool
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string
	// NoModelMetadata stops asking model server pods for their inputs
	// and outputs (for a controller that cannot reach pods).
	NoModelMetadata bool
	// Gateway, if set, is the Gateway whose HTTPRoutes split each
	// ModelService's traffic between its revisions; status.url is then
	// on that Gateway.
	Gateway *GatewayRef
	// GatewayMetricsURL is skiff's gateway's Prometheus endpoint, which
	// spec.rollout.analysis reads; without it an analysis holds its step.
	GatewayMetricsURL string
	// ModelCacheDir is the nodes' cache of model files by sha256 (a
	// hostPath): a registry version kept in S3 is copied to a node once.
	// Empty: each pod fetches its own copy.
	ModelCacheDir string
	// S3 is how serving pods reach s3:// models.
	S3 S3Access
}

// Reconciler reconciles ModelServices.
type Reconciler struct {
	Client   client.Client
	Recorder recorder.EventRecorder
	Options  Options
	// Clock is the time rollouts step by (time.Now when nil).
	Clock func() time.Time

	analyzer *analyzer
}

func (r *Reconciler) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

// +kubebuilder:rbac:groups=ml.skiff.dev,resources=modelservices,verbs=get;list;watch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=modelservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=modelservices/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways,verbs=get;list;watch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=models;modelversions,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller: it wakes on its ModelServices
// and on anything they own, and on their pods (readiness, failures).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.init()
	b := ctrl.NewControllerManagedBy(mgr).
		// The annotation carries skiff rollout promote|abort.
		For(&mlv1.ModelService{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podOwner)).
		// models:/ URIs follow the registry: an alias moved, a version ready.
		Watches(&mlv1.Model{}, handler.EnqueueRequestsFromMapFunc(r.modelServicesOfModel)).
		Watches(&mlv1.ModelVersion{}, handler.EnqueueRequestsFromMapFunc(r.modelServicesOfModel))
	if r.Options.Gateway != nil {
		// The URL follows the Gateway's address.
		b = b.Owns(&gwv1.HTTPRoute{}).Watches(&gwv1.Gateway{}, handler.EnqueueRequestsFromMapFunc(r.allModelServices))
	}
	return b.Named("modelservice").Complete(r)
}

// init fills in the defaults of the options.
func (r *Reconciler) init() {
	if r.Options.ClusterDomain == "" {
		r.Options.ClusterDomain = "cluster.local"
	}
	if u := r.Options.GatewayMetricsURL; u != "" && r.analyzer == nil {
		r.analyzer = newAnalyzer(u)
	}
}

// allModelServices wakes every ModelService (the Gateway changed).
func (r *Reconciler) allModelServices(ctx context.Context, o client.Object) []ctrl.Request {
	if g := r.Options.Gateway; o.GetNamespace() != g.Namespace || o.GetName() != g.Name {
		return nil
	}
	var list mlv1.ModelServiceList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil
	}
	var out []ctrl.Request
	for _, ms := range list.Items {
		out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&ms)})
	}
	return out
}

// podOwner maps a predictor pod to its ModelService.
func podOwner(_ context.Context, o client.Object) []ctrl.Request {
	name, ok := o.GetLabels()[LabelModelService]
	if !ok {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
}

// Reconcile brings one ModelService's objects in line with its spec and
// writes what it finds into its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var ms mlv1.ModelService
	if err := r.Client.Get(ctx, req.NamespacedName, &ms); err != nil {
		if apierrors.IsNotFound(err) && r.analyzer != nil {
			r.analyzer.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ms.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references take the rest away
	}
	served, version, err := r.resolveModel(ctx, &ms)
	if errors.Is(err, errUnresolved) {
		return r.unresolved(ctx, &ms, err)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return r.reconcileServed(ctx, served, version)
}

// reconcileServed reconciles ms as it is served (a registry version
// resolved to its file).
func (r *Reconciler) reconcileServed(ctx context.Context, ms *mlv1.ModelService, version *mlv1.ServedModelVersion) (ctrl.Result, error) {
	req := client.ObjectKeyFromObject(ms)
	deps, err := r.revisionDeployments(ctx, ms)
	if err != nil {
		return ctrl.Result{}, err
	}
	rev := r.revision(ms, deps)
	rev.served = version
	dep, err := r.applyDeployment(ctx, ms, rev, fullSize(ms, deps))
	if err != nil {
		return r.failed(ctx, ms, fmt.Errorf("deployment of modelservice %s: %w", req, err))
	}
	obs, err := r.observe(ctx, ms, rev, dep, deps)
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, name := range obs.keep() {
		if _, err := r.applyService(ctx, ms, name, name); err != nil {
			return r.failed(ctx, ms, fmt.Errorf("service of revision %s: %w", name, err))
		}
	}
	svc, err := r.applyService(ctx, ms, predictorName(ms), cmp.Or(primary(obs.traffic), rev.name))
	if err != nil {
		return r.failed(ctx, ms, fmt.Errorf("service of modelservice %s: %w", req, err))
	}
	if r.Options.Gateway != nil {
		if err := r.applyRoute(ctx, ms, obs.traffic); err != nil {
			return r.failed(ctx, ms, fmt.Errorf("route of modelservice %s: %w", req, err))
		}
	}
	if err := r.applyAutoscaler(ctx, ms, dep); err != nil {
		return r.failed(ctx, ms, fmt.Errorf("autoscaler of modelservice %s: %w", req, err))
	}
	if err := r.blueGreenSize(ctx, ms, obs.rollout, deps, dep, obs.stable); err != nil {
		return ctrl.Result{}, err
	}
	// Only now that no route sends requests to them.
	if err := r.prune(ctx, ms, deps, obs.keep()); err != nil {
		return ctrl.Result{}, err
	}
	return r.updateStatus(ctx, ms, rev, obs, svc)
}

// prune deletes the Deployments and Services of revisions that are
// neither the latest nor in the traffic.
func (r *Reconciler) prune(ctx context.Context, ms *mlv1.ModelService, deps []appsv1.Deployment, keep []string) error {
	for i := range deps {
		if slices.Contains(keep, deps[i].Name) {
			continue
		}
		if err := r.Client.Delete(ctx, &deps[i], client.Preconditions{UID: &deps[i].UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("remove revision deployment %s: %w", deps[i].Name, err)
		}
	}
	var svcs corev1.ServiceList
	if err := r.Client.List(ctx, &svcs, client.InNamespace(ms.Namespace), client.MatchingLabels{LabelModelService: ms.Name}, client.HasLabels{LabelRevision}); err != nil {
		return err
	}
	for i := range svcs.Items {
		s := &svcs.Items[i]
		if slices.Contains(keep, s.Name) || !metav1.IsControlledBy(s, ms) {
			continue
		}
		if err := r.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("remove revision service %s: %w", s.Name, err)
		}
	}
	return nil
}

// failed reports in status what retrying will not fix until the user
// acts (an object in the way, an object the API server refuses); other
// errors go back for a retry.
func (r *Reconciler) failed(ctx context.Context, ms *mlv1.ModelService, err error) (ctrl.Result, error) {
	var conflict *conflictError
	reason := ReasonNameTaken
	switch {
	case errors.As(err, &conflict):
		err = conflict // the object named is enough
	case apierrors.IsInvalid(err):
		reason = ReasonRefused
	default:
		return ctrl.Result{}, err
	}
	return r.failedWith(ctx, ms, reason, err)
}

// failedWith sets Ready False for reason, and looks again later.
func (r *Reconciler) failedWith(ctx context.Context, ms *mlv1.ModelService, reason string, err error) (ctrl.Result, error) {
	old := meta.FindStatusCondition(ms.Status.Conditions, mlv1.ConditionReady)
	if old == nil || old.Reason != reason || old.Message != err.Error() {
		r.Recorder.Eventf(ms, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", err.Error())
	}
	meta.SetStatusCondition(&ms.Status.Conditions, metav1.Condition{Type: mlv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: err.Error(), ObservedGeneration: ms.Generation})
	ms.Status.ObservedGeneration = ms.Generation
	// Neither the removal of an object that is not ours nor a fix elsewhere
	// wakes this ModelService: look again.
	return ctrl.Result{RequeueAfter: 30 * time.Second}, ignoreConflict(r.Client.Status().Update(ctx, ms))
}

// applyDeployment creates or updates the predictor Deployment. With an
// autoscaler the replica count is the autoscaler's, once created; a new
// one starts at size (blue/green: the stable revision's size) if larger.
func (r *Reconciler) applyDeployment(ctx context.Context, ms *mlv1.ModelService, rev revision, size int32) (*appsv1.Deployment, error) {
	want := r.deployment(ms, rev)
	b := r.bounds(ms)
	if !b.scales() || *want.Spec.Replicas >= size {
		size = *want.Spec.Replicas
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ms.Namespace, Name: want.Name}}
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, dep, func() error {
		if err := r.owned(ms, dep); err != nil {
			return err
		}
		replicas := ptr.To(size)
		if b.scales() && dep.Spec.Replicas != nil && exists(dep) {
			replicas = b.clamp(*dep.Spec.Replicas)
		}
		dep.Labels = want.Labels
		if !exists(dep) {
			dep.Spec.Selector = want.Spec.Selector
		}
		dep.Spec.Replicas = replicas
		dep.Spec.Strategy = want.Spec.Strategy
		dep.Spec.RevisionHistoryLimit = want.Spec.RevisionHistoryLimit
		dep.Spec.ProgressDeadlineSeconds = want.Spec.ProgressDeadlineSeconds
		if templateChanged(dep, want) {
			dep.Spec.Template = want.Spec.Template
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if op == controllerutil.OperationResultCreated {
		r.Recorder.Eventf(ms, dep, corev1.EventTypeNormal, "RevisionCreated", "Rollout", "revision %s rolls out in deployment %s", rev.name, dep.Name)
	}
	return dep, nil
}

// templateChanged says whether the Deployment's pods are not those of
// want's revision. The API server fills in defaults, and kubectl rollout
// restart adds an annotation: neither is a change to undo.
func templateChanged(have, want *appsv1.Deployment) bool {
	ha, wa := have.Spec.Template.Annotations, want.Spec.Template.Annotations
	return ha[AnnotationPredictorHash] != wa[AnnotationPredictorHash] || ha[AnnotationRevisionNumber] != wa[AnnotationRevisionNumber]
}

// applyService creates or updates a Service named name in front of the
// pods of revision rev.
func (r *Reconciler) applyService(ctx context.Context, ms *mlv1.ModelService, name, rev string) (*corev1.Service, error) {
	want := service(ms, name, rev)
	if name == rev {
		want.Labels[LabelRevision] = rev
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ms.Namespace, Name: want.Name}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, svc, func() error {
		if err := r.owned(ms, svc); err != nil {
			return err
		}
		svc.Labels = want.Labels
		if name == rev {
			svc.Annotations = r.gatewayAnnotations(ms, svc.Annotations)
		}
		svc.Spec.Selector = want.Spec.Selector
		svc.Spec.Ports = mergePorts(want.Spec.Ports, svc.Spec.Ports)
		svc.Spec.Type = corev1.ServiceTypeClusterIP
		return nil
	})
	return svc, err
}

// applyAutoscaler keeps an HPA while the ModelService may scale, and
// removes it when it may not.
func (r *Reconciler) applyAutoscaler(ctx context.Context, ms *mlv1.ModelService, dep *appsv1.Deployment) error {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ms.Namespace, Name: predictorName(ms)}}
	if !r.hpaScales(ms) {
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(hpa), hpa); err != nil || !metav1.IsControlledBy(hpa, ms) {
			return client.IgnoreNotFound(err)
		}
		err := r.Client.Delete(ctx, hpa, client.Preconditions{UID: &hpa.UID})
		if err == nil {
			r.Recorder.Eventf(ms, hpa, corev1.EventTypeNormal, "AutoscalerRemoved", "Scale", "%s", r.noHPAReason(ms))
		}
		return client.IgnoreNotFound(err)
	}
	want := r.autoscaler(ms, dep.Name)
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, hpa, func() error {
		if err := r.owned(ms, hpa); err != nil {
			return err
		}
		hpa.Labels = want.Labels
		hpa.Spec = want.Spec
		return nil
	})
	if op == controllerutil.OperationResultCreated {
		metric, pct := hpaMetric(ms)
		r.Recorder.Eventf(ms, hpa, corev1.EventTypeNormal, "AutoscalerCreated", "Scale", "%d to %d replicas on %s at %d%% of the request", *want.Spec.MinReplicas, want.Spec.MaxReplicas, metric, pct)
	}
	return err
}

// owned makes ms the controller of obj, and refuses an object of the same
// name that something else made.
func (r *Reconciler) owned(ms *mlv1.ModelService, obj client.Object) error {
	if exists(obj) && !metav1.IsControlledBy(obj, ms) {
		return &conflictError{kind: kindOf(obj), name: obj.GetName()}
	}
	return controllerutil.SetControllerReference(ms, obj, r.Client.Scheme())
}

// exists says whether obj was read from the API (CreateOrUpdate fills it
// in before it mutates).
func exists(obj client.Object) bool { return obj.GetResourceVersion() != "" }

// conflictError is an object in the way that the ModelService does not own.
type conflictError struct{ kind, name string }

func (e *conflictError) Error() string {
	return fmt.Sprintf("%s %s exists and is not this ModelService's: rename the ModelService or remove the %s", e.kind, e.name, e.kind)
}

// ignoreConflict drops update conflicts: the next event brings a fresh copy.
func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// kindOf is obj's kind for messages: "Service", "Deployment".
func kindOf(obj client.Object) string {
	t := fmt.Sprintf("%T", obj)
	return t[strings.LastIndex(t, ".")+1:]
}
