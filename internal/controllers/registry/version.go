package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/model"
)

// sourceRetry is how soon an unreadable source is tried again.
const sourceRetry = 15 * time.Second

// VersionReconciler registers ModelVersions: it copies each one's file
// into the store once, checks that it loads, and reports the result.
type VersionReconciler struct {
	Client client.Client
	// Reader reads what the cache does not hold (claims and volumes of
	// pvc:// sources); the Client when nil.
	Reader   client.Reader
	Recorder recorder.EventRecorder
	Options  Options
}

// SetupWithManager registers the controller: it wakes on ModelVersions,
// and on Models (a version waiting for its Model, or for its number).
func (r *VersionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&mlv1.ModelVersion{}).
		Watches(&mlv1.Model{}, handler.EnqueueRequestsFromMapFunc(r.versionsOfModel)).
		Named("modelversion").Complete(r)
}

// versionsOfModel wakes the versions of a Model that are not Ready yet.
func (r *VersionReconciler) versionsOfModel(ctx context.Context, o client.Object) []ctrl.Request {
	var list mlv1.ModelVersionList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []ctrl.Request
	for _, v := range list.Items {
		if v.Spec.Model == o.GetName() && !meta.IsStatusConditionTrue(v.Status.Conditions, mlv1.ConditionReady) {
			out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&v)})
		}
	}
	return out
}

// Reconcile registers one ModelVersion. Each step is idempotent: the store
// is content-addressed, so a copy repeated after a crash is the same copy.
func (r *VersionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var v mlv1.ModelVersion
	if err := r.Client.Get(ctx, req.NamespacedName, &v); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !v.DeletionTimestamp.IsZero() || r.settled(&v) {
		return ctrl.Result{}, nil
	}
	var m mlv1.Model
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: v.Namespace, Name: v.Spec.Model}, &m); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.setReady(ctx, &v, metav1.ConditionFalse, ReasonModelNotFound,
			fmt.Sprintf("model %s does not exist in namespace %s: create it (skiff models create %s, or a Model object)", v.Spec.Model, v.Namespace, v.Spec.Model))
	}
	var read *mlv1.ModelSignature
	if v.Status.Checksum == "" {
		sig, retry, err := r.store(ctx, &v)
		if err != nil || retry > 0 {
			return ctrl.Result{RequeueAfter: retry}, err
		}
		if v.Status.Checksum == "" {
			return ctrl.Result{}, nil // failed for good: the condition says why
		}
		read = sig
	}
	if v.Spec.Signature == nil {
		if err := r.fillSignature(ctx, &v, read); err != nil {
			return ctrl.Result{}, err
		}
	}
	n := VersionNumber(&v)
	if n == 0 {
		return ctrl.Result{}, r.setReady(ctx, &v, metav1.ConditionFalse, ReasonAwaitingNumber, fmt.Sprintf("stored; waiting for model %s to number it", v.Spec.Model))
	}
	v.Status.Version = n
	return ctrl.Result{}, r.setReady(ctx, &v, metav1.ConditionTrue, ReasonRegistered,
		fmt.Sprintf("version %d of model %s, %s, stored at %s", n, v.Spec.Model, v.Status.Checksum, v.Status.ArtifactURI))
}

// settled says nothing is left to do: registered for this generation, or
// failed for good (a file that does not load stays broken; register a new
// version).
func (r *VersionReconciler) settled(v *mlv1.ModelVersion) bool {
	c := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady)
	if c == nil || c.ObservedGeneration != v.Generation {
		return false
	}
	return (c.Status == metav1.ConditionTrue && v.Status.Version == VersionNumber(v)) || c.Reason == ReasonLoadFailed
}

// store copies the source to scratch, loads it, and puts it in the store.
// A source it cannot read yet is retried; one that does not load is final.
// It returns the signature the file describes.
func (r *VersionReconciler) store(ctx context.Context, v *mlv1.ModelVersion) (*mlv1.ModelSignature, time.Duration, error) {
	uri := v.Spec.Source.StorageURI
	fetched, err := r.fetch(ctx, v.Namespace, uri)
	if err != nil {
		if errors.Is(err, artifact.ErrTooLarge) {
			return nil, 0, r.setReady(ctx, v, metav1.ConditionFalse, ReasonLoadFailed, fmt.Sprintf("source %s: %v", uri, err))
		}
		return nil, sourceRetry, r.setReady(ctx, v, metav1.ConditionFalse, ReasonSourceUnavailable,
			fmt.Sprintf("%v (tried again every %s)", err, sourceRetry))
	}
	defer os.Remove(fetched.Path)
	loaded, err := model.Load(v.Spec.ModelFormat.Name, fetched.Path)
	if err != nil {
		return nil, 0, r.setReady(ctx, v, metav1.ConditionFalse, ReasonLoadFailed,
			fmt.Sprintf("source %s does not load as a %s model: %v", uri, v.Spec.ModelFormat.Name, loadError(err, fetched.Path)))
	}
	stored, err := r.Options.Store.Put(ctx, fetched.Digest, fetched.Path)
	if err != nil {
		_ = r.setReady(ctx, v, metav1.ConditionFalse, ReasonStoreFailed, err.Error())
		return nil, 0, err
	}
	v.Status.ArtifactURI, v.Status.Checksum, v.Status.Size = stored, fetched.Digest.Checksum(), fetched.Size
	r.Recorder.Eventf(v, nil, corev1.EventTypeNormal, "Stored", "Store", "%s (%d bytes, %s) copied to %s; it loads as %s",
		uri, fetched.Size, fetched.Digest.Checksum(), stored, loaded.Info().Estimator)
	return signatureOf(loaded.Info()), 0, nil
}

func (r *VersionReconciler) fetch(ctx context.Context, namespace, uri string) (artifact.Fetched, error) {
	resolved, err := r.resolveClaim(ctx, namespace, uri)
	if err != nil {
		return artifact.Fetched{}, err
	}
	src, err := r.Options.Sources.Open(ctx, resolved)
	if err != nil {
		return artifact.Fetched{}, err
	}
	defer src.Close()
	fetched, err := artifact.CopyToFile(src, r.Options.ScratchDir, r.Options.maxModelBytes())
	if err != nil {
		return artifact.Fetched{}, fmt.Errorf("reading %s: %w", uri, err)
	}
	return fetched, nil
}

// fillSignature writes the signature read from the file into the spec (the
// one change a registered spec allows). After a crash between storing and
// this, the stored copy is read again.
func (r *VersionReconciler) fillSignature(ctx context.Context, v *mlv1.ModelVersion, sig *mlv1.ModelSignature) error {
	if sig == nil {
		loaded, err := r.loadStored(ctx, v)
		if err != nil {
			return err
		}
		sig = signatureOf(loaded.Info())
	}
	status := v.Status.DeepCopy()
	patch := client.MergeFrom(v.DeepCopy())
	v.Spec.Signature = sig
	if err := r.Client.Patch(ctx, v, patch); err != nil {
		return fmt.Errorf("modelversion %s: writing the signature: %w", v.Name, err)
	}
	v.Status = *status // the patch's answer has the stored status, not ours
	return nil
}

func (r *VersionReconciler) loadStored(ctx context.Context, v *mlv1.ModelVersion) (model.Model, error) {
	in, err := r.Options.Store.Open(ctx, v.Status.ArtifactURI)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	fetched, err := artifact.CopyToFile(in, r.Options.ScratchDir, 0)
	if err != nil {
		return nil, err
	}
	defer os.Remove(fetched.Path)
	return model.Load(v.Spec.ModelFormat.Name, fetched.Path)
}

func (r *VersionReconciler) setReady(ctx context.Context, v *mlv1.ModelVersion, status metav1.ConditionStatus, reason, message string) error {
	was := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady)
	changed := meta.SetStatusCondition(&v.Status.Conditions, metav1.Condition{Type: mlv1.ConditionReady, Status: status, Reason: reason, Message: message, ObservedGeneration: v.Generation})
	if !changed && v.Status.ObservedGeneration == v.Generation && v.Status.Version == VersionNumber(v) && was != nil {
		return nil
	}
	v.Status.ObservedGeneration = v.Generation
	if err := r.Client.Status().Update(ctx, v); err != nil {
		return fmt.Errorf("modelversion %s: writing status: %w", v.Name, err)
	}
	if changed && (was == nil || was.Reason != reason) {
		kind := corev1.EventTypeNormal
		if status == metav1.ConditionFalse && reason != ReasonAwaitingNumber {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(v, nil, kind, reason, "Register", "%s", message)
	}
	return nil
}

// loadError drops the scratch file's name from the loader's message: the
// user knows the file by its source URI.
func loadError(err error, scratch string) string {
	msg := err.Error()
	if len(msg) > len(scratch)+2 && msg[:len(scratch)+2] == scratch+": " {
		return msg[len(scratch)+2:]
	}
	return msg
}

// signatureOf is a model's inputs and outputs: one column per feature when
// the file names them (as MLflow's column signatures), else one tensor.
func signatureOf(info model.Info) *mlv1.ModelSignature {
	sig := &mlv1.ModelSignature{}
	if len(info.FeatureNames) == info.Features && info.Features > 0 {
		for _, name := range info.FeatureNames {
			sig.Inputs = append(sig.Inputs, mlv1.TensorSpec{Name: name, Datatype: model.FP64, Shape: []int64{-1}})
		}
	} else {
		sig.Inputs = []mlv1.TensorSpec{{Name: "input-0", Datatype: model.FP64, Shape: []int64{-1, int64(info.Features)}}}
	}
	for _, o := range info.Outputs {
		sig.Outputs = append(sig.Outputs, mlv1.TensorSpec{Name: o.Name, Datatype: o.Datatype, Shape: o.Shape})
	}
	return sig
}
