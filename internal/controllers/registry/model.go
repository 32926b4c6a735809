package registry

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// AnnotationAliasUser is where the registry's admission webhook writes who
// changed a Model's aliases, for the alias history.
const AnnotationAliasUser = "ml.skiff.dev/aliases-changed-by"

// maxAliasHistory bounds status.aliasHistory (the schema's MaxItems).
const maxAliasHistory = 100

// ModelReconciler numbers versions and reports a Model's versions and
// aliases. It is the only writer of version numbers, and works one Model at
// a time, so numbers are given in order and once.
type ModelReconciler struct {
	Client client.Client
	// Reader reads without the cache (the manager's API reader): numbers
	// are given from what the API holds now, not what the cache saw last.
	// Nil reads through Client.
	Reader   client.Reader
	Recorder recorder.EventRecorder
	// Clock stamps alias moves (time.Now when nil).
	Clock func() time.Time
}

// +kubebuilder:rbac:groups=ml.skiff.dev,resources=models,verbs=get;list;watch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=models/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=modelversions,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=modelversions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller: it wakes on Models and on
// every change of their versions (a new one to number, a readiness change,
// a deletion).
func (r *ModelReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&mlv1.Model{}).
		Watches(&mlv1.ModelVersion{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
			if key, ok := versionModel(o); ok {
				return []ctrl.Request{{NamespacedName: key}}
			}
			return nil
		})).
		Named("model").Complete(r)
}

func (r *ModelReconciler) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

// Reconcile numbers the Model's new versions and writes its status.
func (r *ModelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var m mlv1.Model
	if err := r.reader().Get(ctx, req.NamespacedName, &m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !m.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	versions, err := r.versions(ctx, &m)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.number(ctx, &m, versions); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.writeStatus(ctx, &m, versions)
}

func (r *ModelReconciler) reader() client.Reader {
	if r.Reader != nil {
		return r.Reader
	}
	return r.Client
}

// versions are the Model's ModelVersions, oldest first.
func (r *ModelReconciler) versions(ctx context.Context, m *mlv1.Model) ([]*mlv1.ModelVersion, error) {
	var list mlv1.ModelVersionList
	if err := r.reader().List(ctx, &list, client.InNamespace(m.Namespace)); err != nil {
		return nil, fmt.Errorf("listing versions of model %s: %w", m.Name, err)
	}
	var out []*mlv1.ModelVersion
	for i := range list.Items {
		if v := &list.Items[i]; v.Spec.Model == m.Name && v.DeletionTimestamp.IsZero() {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b *mlv1.ModelVersion) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// number gives each unnumbered version the next number. The numbers are
// reserved in the Model's status before any version carries one, so a
// crash between the two leaves a gap, never a number given twice (even
// to a version deleted meanwhile).
func (r *ModelReconciler) number(ctx context.Context, m *mlv1.Model, versions []*mlv1.ModelVersion) error {
	last := m.Status.LastAssignedVersion
	var unnumbered []*mlv1.ModelVersion
	for _, v := range versions {
		if n := VersionNumber(v); n == 0 {
			unnumbered = append(unnumbered, v)
		} else {
			last = max(last, n)
		}
	}
	if len(unnumbered) == 0 {
		m.Status.LastAssignedVersion = last
		return nil
	}
	m.Status.LastAssignedVersion = last + int64(len(unnumbered))
	if err := r.Client.Status().Update(ctx, m); err != nil {
		return fmt.Errorf("model %s: reserving version numbers: %w", m.Name, err)
	}
	for i, v := range unnumbered {
		n := last + 1 + int64(i)
		// A merge patch, not an update: the version's status is being
		// written meanwhile, and a conflict would waste the number.
		patch := client.MergeFrom(v.DeepCopy())
		if v.Labels == nil {
			v.Labels = map[string]string{}
		}
		v.Labels[LabelModel], v.Labels[LabelVersion] = m.Name, strconv.FormatInt(n, 10)
		// Deleting a Model deletes its versions (as MLflow's registry does).
		if err := controllerutil.SetOwnerReference(m, v, r.Client.Scheme()); err != nil {
			return err
		}
		if err := r.Client.Patch(ctx, v, patch); err != nil {
			return fmt.Errorf("model %s: numbering version %s: %w", m.Name, v.Name, err)
		}
		r.Recorder.Eventf(m, v, corev1.EventTypeNormal, "VersionNumbered", "Number", "%s is version %d", v.Name, n)
	}
	return nil
}

// writeStatus reports versions, aliases and the moves since last time.
func (r *ModelReconciler) writeStatus(ctx context.Context, m *mlv1.Model, versions []*mlv1.ModelVersion) error {
	s := m.Status.DeepCopy()
	s.ObservedGeneration = m.Generation
	s.VersionCount = int32(len(versions))
	s.LatestVersion = 0
	byNumber := map[int64]*mlv1.ModelVersion{}
	for _, v := range versions {
		if n := VersionNumber(v); n > 0 {
			byNumber[n] = v
			s.LatestVersion = max(s.LatestVersion, n)
		}
	}
	moves := aliasMoves(ParseAliasSummary(m.Status.AliasSummary), m.Spec.Aliases, m.Annotations[AnnotationAliasUser], metav1.NewTime(r.now()))
	s.AliasHistory = append(s.AliasHistory, moves...)
	if extra := len(s.AliasHistory) - maxAliasHistory; extra > 0 {
		s.AliasHistory = slices.Clone(s.AliasHistory[extra:])
	}
	s.AliasSummary = AliasSummary(m.Spec.Aliases)
	status, reason, message := aliasReadiness(m.Spec.Aliases, byNumber)
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{Type: mlv1.ConditionReady, Status: status, Reason: reason, Message: message, ObservedGeneration: m.Generation})
	for _, mv := range moves {
		r.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "AliasMoved", "Alias", "%s", mv)
	}
	if equalStatus(&m.Status, s) {
		return nil
	}
	m.Status = *s
	if err := r.Client.Status().Update(ctx, m); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("model %s changed meanwhile: %w", m.Name, err)
		}
		return fmt.Errorf("model %s: writing status: %w", m.Name, err)
	}
	return nil
}

// aliasReadiness says whether every alias points at a Ready version.
func aliasReadiness(aliases map[string]int64, byNumber map[int64]*mlv1.ModelVersion) (metav1.ConditionStatus, string, string) {
	for _, alias := range slices.Sorted(maps.Keys(aliases)) {
		n := aliases[alias]
		v, ok := byNumber[n]
		if !ok {
			return metav1.ConditionFalse, ReasonAliasTargetMissing,
				fmt.Sprintf("alias %s points at version %d, which does not exist: move it to a version kubectl get mv lists", alias, n)
		}
		if !meta.IsStatusConditionTrue(v.Status.Conditions, mlv1.ConditionReady) {
			why := "it is not registered yet"
			if c := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady); c != nil && c.Message != "" {
				why = c.Reason + ": " + c.Message
			}
			return metav1.ConditionFalse, ReasonAliasTargetNotReady,
				fmt.Sprintf("alias %s points at version %d (%s), which is not Ready: %s", alias, n, v.Name, why)
		}
	}
	if len(aliases) == 0 {
		return metav1.ConditionTrue, ReasonAliasesReady, "no aliases"
	}
	return metav1.ConditionTrue, ReasonAliasesReady, "every alias points at a Ready version"
}

// aliasMoves are the changes from the aliases last seen to the current
// ones, in alias order.
func aliasMoves(was, now map[string]int64, user string, at metav1.Time) []mlv1.AliasMove {
	var out []mlv1.AliasMove
	for _, alias := range slices.Sorted(maps.Keys(unionKeys(was, now))) {
		if was[alias] != now[alias] {
			out = append(out, mlv1.AliasMove{Alias: alias, From: was[alias], To: now[alias], User: user, Time: at})
		}
	}
	return out
}

func unionKeys(a, b map[string]int64) map[string]int64 {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]int64{}
	}
	maps.Copy(out, b)
	return out
}

// AliasSummary is "challenger=4,champion=3": the aliases in name order.
func AliasSummary(aliases map[string]int64) string {
	var parts []string
	for _, alias := range slices.Sorted(maps.Keys(aliases)) {
		parts = append(parts, alias+"="+strconv.FormatInt(aliases[alias], 10))
	}
	return strings.Join(parts, ",")
}

// ParseAliasSummary reads AliasSummary back: the aliases the registry saw
// last, against which the next change is a move.
func ParseAliasSummary(s string) map[string]int64 {
	out := map[string]int64{}
	for part := range strings.SplitSeq(s, ",") {
		alias, num, ok := strings.Cut(part, "=")
		if n, err := strconv.ParseInt(num, 10, 64); ok && err == nil {
			out[alias] = n
		}
	}
	return out
}

func equalStatus(a, b *mlv1.RegisteredModelStatus) bool {
	if a.ObservedGeneration != b.ObservedGeneration || a.LastAssignedVersion != b.LastAssignedVersion ||
		a.LatestVersion != b.LatestVersion || a.VersionCount != b.VersionCount || a.AliasSummary != b.AliasSummary ||
		len(a.AliasHistory) != len(b.AliasHistory) || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message || x.ObservedGeneration != y.ObservedGeneration {
			return false
		}
	}
	return true
}
