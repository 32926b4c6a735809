// Package registry is the model registry's controllers: the Model
// controller numbers each Model's ModelVersions in the order they were
// created and reports versions and aliases; the ModelVersion controller
// copies a version's file into the registry's artifact store, loads it once
// to prove it evaluates, and fills in its signature. They talk only to the
// Kubernetes API and to the store, so they run in skiff up and as an
// operator alike.
package registry

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/artifact"
)

// Labels the Model controller puts on each ModelVersion.
const (
	LabelModel   = mlv1.LabelModel
	LabelVersion = mlv1.LabelModelVersion
)

// Condition reasons.
const (
	ReasonRegistered          = "Registered"
	ReasonModelNotFound       = "ModelNotFound"
	ReasonAwaitingNumber      = "AwaitingVersionNumber"
	ReasonSourceUnavailable   = "SourceUnavailable"
	ReasonLoadFailed          = "LoadFailed"
	ReasonStoreFailed         = "StoreFailed"
	ReasonAliasesReady        = "AliasesReady"
	ReasonAliasTargetMissing  = "AliasTargetMissing"
	ReasonAliasTargetNotReady = "AliasTargetNotReady"
)

// Options are where the registry keeps and reads files.
type Options struct {
	// Store keeps the registry's copies of model files.
	Store artifact.Store
	// Sources reads the files versions are registered from.
	Sources artifact.Sources
	// ScratchDir holds a source while it is checked ("" is the system's
	// temporary folder).
	ScratchDir string
	// ClaimsDir holds mounted claims as <namespace>/<claim>, for pvc://
	// sources whose volumes are not folders on this host ("": none).
	ClaimsDir string
	// MaxModelBytes refuses larger sources (0: 2 GiB).
	MaxModelBytes int64
}

func (o Options) maxModelBytes() int64 {
	if o.MaxModelBytes > 0 {
		return o.MaxModelBytes
	}
	return 2 << 30
}

// VersionNumber is the number the Model controller gave v, 0 when none yet.
func VersionNumber(v *mlv1.ModelVersion) int64 { return v.Number() }

// versionModel maps a ModelVersion to its Model.
func versionModel(o client.Object) (client.ObjectKey, bool) {
	v, ok := o.(*mlv1.ModelVersion)
	if !ok || v.Spec.Model == "" {
		return client.ObjectKey{}, false
	}
	return client.ObjectKey{Namespace: v.Namespace, Name: v.Spec.Model}, true
}
