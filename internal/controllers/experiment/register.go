package experiment

import (
	"context"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// ConditionRegistered says the best trial's model is a Ready version and
// the alias points at it (spec.register).
const ConditionRegistered = "Registered"

// Where a trial's output folder is, in its primary container.
const (
	EnvOutputDir   = "SKIFF_OUTPUT_DIR"
	OutputDir      = "/var/run/skiff/output"
	outputVolume   = "skiff-output"
	outputClaimTag = "-output"
)

// OutputClaim is the name of the claim an Experiment's trials write to.
func OutputClaim(exp *mlv1.Experiment) string { return exp.Name + outputClaimTag }

// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=models,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=ml.skiff.dev,resources=modelversions,verbs=get;list;watch;create

// ensureOutputClaim makes the claim the trials' folders are on, owned by
// the Experiment so that it goes with it (the registry keeps its own copy
// of what was registered).
func (r *Reconciler) ensureOutputClaim(ctx context.Context, exp *mlv1.Experiment) error {
	var claim corev1.PersistentVolumeClaim
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: exp.Namespace, Name: OutputClaim(exp)}, &claim)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	out := exp.Spec.Register.Output
	if out == nil {
		out = &mlv1.OutputVolume{}
	}
	size, mode := resource.MustParse("1Gi"), corev1.ReadWriteOnce
	if out.Size != nil {
		size = *out.Size
	}
	if out.AccessMode != "" {
		mode = corev1.PersistentVolumeAccessMode(out.AccessMode)
	}
	claim = corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: OutputClaim(exp), Namespace: exp.Namespace, Labels: map[string]string{LabelExperiment: exp.Name}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{mode},
			StorageClassName: out.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if err := controllerutil.SetControllerReference(exp, &claim, r.Client.Scheme()); err != nil {
		return err
	}
	if err := r.Client.Create(ctx, &claim); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the trials' output claim %s: %w", claim.Name, err)
	}
	r.Recorder.Eventf(exp, &claim, corev1.EventTypeNormal, "OutputClaimCreated", "Create", "trials write their models to claim %s, each in its own folder ($%s)", claim.Name, EnvOutputDir)
	return nil
}

// mountOutput gives the primary container its own folder of the claim as
// $SKIFF_OUTPUT_DIR.
func mountOutput(job *batchv1.Job, exp *mlv1.Experiment, trialName string) {
	spec := &job.Spec.Template.Spec
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: outputVolume, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: OutputClaim(exp)}}})
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.Name != exp.Spec.TrialTemplate.PrimaryContainerName {
			continue
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: outputVolume, MountPath: OutputDir, SubPath: trialName})
		c.Env = append(c.Env, corev1.EnvVar{Name: EnvOutputDir, Value: OutputDir})
	}
}

// register brings spec.register along once the Experiment succeeded:
// the best trial's folder becomes a ModelVersion (named after the trial,
// so a restart finds the one it made), and once that is Ready the alias
// moves to it. It fills status.registration and the Registered condition.
func (r *Reconciler) register(ctx context.Context, exp *mlv1.Experiment, bestTrial *mlv1.Trial) error {
	reg := exp.Spec.Register
	if bestTrial == nil {
		r.setRegistered(exp, metav1.ConditionFalse, "NoSucceededTrial", "no trial succeeded: nothing to register")
		return nil
	}
	s := &exp.Status
	if s.Registration == nil || s.Registration.Trial != bestTrial.Name {
		if err := r.ensureModel(ctx, exp); err != nil {
			return err
		}
		v, err := r.createVersion(ctx, exp, bestTrial)
		if err != nil {
			return err
		}
		s.Registration = &mlv1.Registration{Trial: bestTrial.Name, ModelVersion: v.Name}
	}
	var v mlv1.ModelVersion
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: exp.Namespace, Name: s.Registration.ModelVersion}, &v); err != nil {
		if apierrors.IsNotFound(err) {
			r.setRegistered(exp, metav1.ConditionFalse, "ModelVersionMissing", fmt.Sprintf("model version %s was deleted", s.Registration.ModelVersion))
			return nil
		}
		return err
	}
	ready := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady)
	switch {
	case ready == nil || ready.Status != metav1.ConditionTrue || v.Status.Version == 0:
		reason, msg := "Registering", fmt.Sprintf("model version %s of trial %s is being registered", v.Name, bestTrial.Name)
		if ready != nil && ready.Status == metav1.ConditionFalse {
			reason, msg = "ModelVersionNotReady", fmt.Sprintf("model version %s of trial %s is not Ready (%s): %s", v.Name, bestTrial.Name, ready.Reason, ready.Message)
		}
		r.setRegistered(exp, metav1.ConditionFalse, reason, msg)
		return nil
	}
	s.Registration.Version = v.Status.Version
	if reg.Alias != "" && !s.Registration.AliasSet {
		if err := r.moveAlias(ctx, exp, v.Status.Version); err != nil {
			return err
		}
		s.Registration.AliasSet = true
	}
	msg := fmt.Sprintf("trial %s is version %d of model %s", bestTrial.Name, v.Status.Version, reg.Model)
	if reg.Alias != "" {
		msg += fmt.Sprintf("; alias %s was pointed at it", reg.Alias)
	}
	r.setRegistered(exp, metav1.ConditionTrue, "Registered", msg)
	return nil
}

// ensureModel creates the Model when it does not exist, as MLflow's
// register_model does.
func (r *Reconciler) ensureModel(ctx context.Context, exp *mlv1.Experiment) error {
	m := &mlv1.Model{ObjectMeta: metav1.ObjectMeta{Name: exp.Spec.Register.Model, Namespace: exp.Namespace},
		Spec: mlv1.RegisteredModelSpec{Description: fmt.Sprintf("registered by experiment %s", exp.Name)}}
	switch err := r.Client.Create(ctx, m); {
	case apierrors.IsAlreadyExists(err):
		return nil
	case err != nil:
		return fmt.Errorf("creating model %s for spec.register: %w", m.Name, err)
	}
	r.Recorder.Eventf(exp, m, corev1.EventTypeNormal, "ModelCreated", "Register", "created model %s for the best trial's version", m.Name)
	return nil
}

// createVersion registers the trial's output folder. The version has no
// owner: it outlives the Experiment.
func (r *Reconciler) createVersion(ctx context.Context, exp *mlv1.Experiment, t *mlv1.Trial) (*mlv1.ModelVersion, error) {
	v := &mlv1.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Name: t.Name, Namespace: exp.Namespace, Labels: map[string]string{LabelExperiment: exp.Name}},
		Spec: mlv1.ModelVersionSpec{
			Model:       exp.Spec.Register.Model,
			Source:      mlv1.ModelVersionSource{StorageURI: fmt.Sprintf("pvc://%s/%s", OutputClaim(exp), t.Name)},
			ModelFormat: exp.Spec.Register.ModelFormat,
			RunRef:      &mlv1.RunReference{APIVersion: mlv1.GroupVersion.String(), Kind: "Trial", Name: t.Name, UID: string(t.UID)},
			Parameters:  append([]mlv1.ParameterAssignment(nil), t.Spec.ParameterAssignments...),
			Description: fmt.Sprintf("best trial of experiment %s", exp.Name),
		},
	}
	if o := t.Status.Observation; o != nil {
		for _, m := range o.Metrics {
			v.Spec.Metrics = append(v.Spec.Metrics, mlv1.VersionMetric{Name: m.Name, Value: m.Latest})
		}
	}
	switch err := r.Client.Create(ctx, v); {
	case apierrors.IsAlreadyExists(err):
		// Made before a restart, or by hand: only the one from this trial
		// counts.
		var have mlv1.ModelVersion
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(v), &have); err != nil {
			return nil, err
		}
		if have.Spec.RunRef == nil || have.Spec.RunRef.Name != t.Name || have.Spec.Model != v.Spec.Model {
			return nil, fmt.Errorf("model version %s exists and is not trial %s's version of model %s: delete or rename it", v.Name, t.Name, v.Spec.Model)
		}
		return &have, nil
	case err != nil:
		return nil, fmt.Errorf("registering trial %s as a version of model %s: %w", t.Name, v.Spec.Model, err)
	}
	r.Recorder.Eventf(exp, v, corev1.EventTypeNormal, "ModelVersionCreated", "Register", "registering trial %s (%s) from %s as a version of model %s",
		t.Name, summary(t.Spec.ParameterAssignments), v.Spec.Source.StorageURI, v.Spec.Model)
	return v, nil
}

// moveAlias points the alias at the version: a merge patch of that one
// key, so other aliases and a concurrent edit of them stay.
func (r *Reconciler) moveAlias(ctx context.Context, exp *mlv1.Experiment, version int64) error {
	reg := exp.Spec.Register
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"aliases": map[string]int64{reg.Alias: version}}})
	if err != nil {
		return err
	}
	m := &mlv1.Model{ObjectMeta: metav1.ObjectMeta{Name: reg.Model, Namespace: exp.Namespace}}
	if err := r.Client.Patch(ctx, m, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("pointing alias %s of model %s at version %d: %w", reg.Alias, reg.Model, version, err)
	}
	r.Recorder.Eventf(exp, m, corev1.EventTypeNormal, "AliasMoved", "Register", "alias %s of model %s points at version %d", reg.Alias, reg.Model, version)
	return nil
}

func (r *Reconciler) setRegistered(exp *mlv1.Experiment, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&exp.Status.Conditions, metav1.Condition{Type: ConditionRegistered, Status: status, Reason: reason, Message: message, ObservedGeneration: exp.Generation})
}

// registeringExperiment maps a version to the Experiment that registered
// it, by its label.
func registeringExperiment(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[LabelExperiment]
	if _, ok := o.(*mlv1.ModelVersion); !ok || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}
