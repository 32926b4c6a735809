package v1alpha1

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Model is a registered model: a name, its versions (ModelVersions that
// name it) and aliases that point at version numbers, as MLflow's
// registry. A ModelService serving models:/<model>@<alias> rolls out
// whatever the alias points at, so moving an alias is the release.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ml
// +kubebuilder:printcolumn:name="Latest",type=integer,JSONPath=`.status.latestVersion`
// +kubebuilder:printcolumn:name="Versions",type=integer,JSONPath=`.status.versionCount`
// +kubebuilder:printcolumn:name="Aliases",type=string,JSONPath=`.status.aliasSummary`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Model struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RegisteredModelSpec   `json:"spec,omitempty"`
	Status RegisteredModelStatus `json:"status,omitempty"`
}

// ModelList is a list of Models.
//
// +kubebuilder:object:root=true
type ModelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Model `json:"items"`
}

// RegisteredModelSpec is what a Model says of itself, and its aliases.
type RegisteredModelSpec struct {
	// Description is free text.
	// +optional
	Description string `json:"description,omitempty"`
	// Tags are free key-value pairs.
	// +optional
	Tags map[string]string `json:"tags,omitempty"`
	// Aliases name versions: alias -> version number (champion: 3). An
	// alias must point at a version that is Ready.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(a, a.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'))",message="an alias is a lowercase name of letters, digits and '-', at most 63 characters (champion, challenger)"
	// +kubebuilder:validation:XValidation:rule="self.all(a, self[a] >= 1)",message="an alias points at a version number, 1 or more"
	Aliases map[string]int64 `json:"aliases,omitempty"`
}

// RegisteredModelStatus is what the registry knows of a Model.
type RegisteredModelStatus struct {
	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (every alias points at a Ready version).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastAssignedVersion is the highest version number ever given; numbers
	// are never given twice, even after a version is deleted.
	// +optional
	LastAssignedVersion int64 `json:"lastAssignedVersion,omitempty"`
	// LatestVersion is the highest version number that exists.
	// +optional
	LatestVersion int64 `json:"latestVersion,omitempty"`
	// VersionCount is how many versions exist.
	// +optional
	VersionCount int32 `json:"versionCount,omitempty"`
	// AliasSummary is "champion=3,challenger=4", for kubectl get.
	// +optional
	AliasSummary string `json:"aliasSummary,omitempty"`
	// AliasHistory is each alias move, newest last, kept to the last 100.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	AliasHistory []AliasMove `json:"aliasHistory,omitempty"`
}

// AliasMove is one change of an alias: set, moved or removed.
type AliasMove struct {
	// Alias is the alias that moved.
	Alias string `json:"alias"`
	// From is the version it pointed at before; 0 when it was new.
	// +optional
	From int64 `json:"from,omitempty"`
	// To is the version it points at now; 0 when it was removed.
	// +optional
	To int64 `json:"to,omitempty"`
	// User made the change, as the API server authenticated them; empty
	// when the registry's admission webhook did not see it.
	// +optional
	User string `json:"user,omitempty"`
	// Time is when the registry saw the change.
	Time metav1.Time `json:"time"`
}

// String says what the move did, for events and history: "alias
// champion moved from version 1 to 2 by bob".
func (m AliasMove) String() string {
	by := ""
	if m.User != "" {
		by = " by " + m.User
	}
	switch {
	case m.From == 0:
		return "alias " + m.Alias + " set to version " + strconv.FormatInt(m.To, 10) + by
	case m.To == 0:
		return "alias " + m.Alias + " removed from version " + strconv.FormatInt(m.From, 10) + by
	default:
		return "alias " + m.Alias + " moved from version " + strconv.FormatInt(m.From, 10) + " to " + strconv.FormatInt(m.To, 10) + by
	}
}

// ModelVersion is one registered version of a Model: where it came from,
// what it is, and the registry's own immutable, content-addressed copy.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ml,shortName=mv
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.spec.model`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Format",type=string,JSONPath=`.spec.modelFormat.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.size`,priority=1
// +kubebuilder:printcolumn:name="Artifact",type=string,JSONPath=`.status.artifactUri`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ModelVersion struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ModelVersionSpec   `json:"spec"`
	Status ModelVersionStatus `json:"status,omitempty"`
}

// ModelVersionList is a list of ModelVersions.
//
// +kubebuilder:object:root=true
type ModelVersionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ModelVersion `json:"items"`
}

// ModelVersionSpec is what was registered. It does not change once
// registered: a new model is a new version. Only a missing signature may be
// filled in (the registry reads it from the file).
//
// +kubebuilder:validation:XValidation:rule="self.model == oldSelf.model && self.source == oldSelf.source && self.modelFormat == oldSelf.modelFormat",message="a ModelVersion's model, source and modelFormat cannot change: register a new version"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.signature) || (has(self.signature) && self.signature == oldSelf.signature)",message="a ModelVersion's signature cannot change once set: register a new version"
// +kubebuilder:validation:XValidation:rule="(has(self.runRef) == has(oldSelf.runRef)) && (!has(self.runRef) || self.runRef == oldSelf.runRef)",message="a ModelVersion's runRef cannot change: register a new version"
// +kubebuilder:validation:XValidation:rule="(has(self.metrics) == has(oldSelf.metrics)) && (!has(self.metrics) || self.metrics == oldSelf.metrics) && (has(self.parameters) == has(oldSelf.parameters)) && (!has(self.parameters) || self.parameters == oldSelf.parameters)",message="a ModelVersion's metrics and parameters cannot change: register a new version"
type ModelVersionSpec struct {
	// Model is the name of the Model (same namespace) this is a version of.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Model string `json:"model"`
	// Source is where the model file was registered from.
	Source ModelVersionSource `json:"source"`
	// ModelFormat says how to read the file.
	ModelFormat ModelFormat `json:"modelFormat"`
	// Signature is the model's inputs and outputs; when absent the
	// registry fills it from the file (XGBoost's feature names, sklearn's
	// feature_names_in_).
	// +optional
	Signature *ModelSignature `json:"signature,omitempty"`
	// RunRef is the run that produced the model: a Trial, Job or TrainJob.
	// +optional
	RunRef *RunReference `json:"runRef,omitempty"`
	// Parameters the run was given (a trial's assignments).
	// +optional
	// +listType=map
	// +listMapKey=name
	Parameters []ParameterAssignment `json:"parameters,omitempty"`
	// Metrics the run reported (a trial's objective first).
	// +optional
	// +listType=map
	// +listMapKey=name
	Metrics []VersionMetric `json:"metrics,omitempty"`
	// Tags are free key-value pairs.
	// +optional
	Tags map[string]string `json:"tags,omitempty"`
	// Description is free text.
	// +optional
	Description string `json:"description,omitempty"`
}

// ModelVersionSource is where a version's file is read from once, at
// registration.
type ModelVersionSource struct {
	// StorageURI is a model file (.json) or a folder holding model.json:
	// file:///<path> (a path the registry can read: on skiff's node, or
	// mounted into the operator), pvc://<claim>/<path> (a path on a
	// PersistentVolumeClaim of the version's namespace, KServe's form), or
	// s3://<bucket>/<key> (read with the registry's S3 credentials).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.matches('^file:///+[^/]') || self.matches('^s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]/.+$') || self.matches('^pvc://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/.*)?$')",message="source.storageUri must be file:///<absolute path>, pvc://<claim>/<path> or s3://<bucket>/<key>"
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)\\\\.\\\\.(/|$)')",message="source.storageUri must not contain '..'"
	StorageURI string `json:"storageUri"`
}

// ModelSignature is a model's inputs and outputs, as tensors.
type ModelSignature struct {
	// +optional
	// +listType=atomic
	Inputs []TensorSpec `json:"inputs,omitempty"`
	// +optional
	// +listType=atomic
	Outputs []TensorSpec `json:"outputs,omitempty"`
}

// RunReference names the object that produced a model.
type RunReference struct {
	// APIVersion is the run's, e.g. ml.skiff.dev/v1alpha1 or batch/v1.
	APIVersion string `json:"apiVersion"`
	// Kind is Trial, Job or TrainJob.
	Kind string `json:"kind"`
	// Name is the run's, in the same namespace.
	Name string `json:"name"`
	// UID tells this run from a later one of the same name.
	// +optional
	UID string `json:"uid,omitempty"`
}

// VersionMetric is one metric of the run that made the version.
type VersionMetric struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ModelVersionStatus is the registry's record of the version.
type ModelVersionStatus struct {
	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (numbered, stored, and loaded once to prove it
	// evaluates); a file that does not load is Ready False, LoadFailed,
	// with the loader's message.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Version is the number the Model gave this version: 1, 2, ... in the
	// order they were registered, never reused.
	// +optional
	Version int64 `json:"version,omitempty"`
	// ArtifactURI is the registry's immutable copy, content-addressed by
	// its sha256; what a ModelService serving this version mounts.
	// +optional
	ArtifactURI string `json:"artifactUri,omitempty"`
	// Checksum is "sha256:<hex>" of the model file.
	// +optional
	Checksum string `json:"checksum,omitempty"`
	// Size is the file's size in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
}

// Labels the registry puts on each ModelVersion, so that
// `kubectl get mv -l ml.skiff.dev/model=housing` lists a model's versions.
const (
	LabelModel        = "ml.skiff.dev/model"
	LabelModelVersion = "ml.skiff.dev/version"
)

// Number is the version number the registry gave v, 0 when none yet.
func (v *ModelVersion) Number() int64 {
	n, err := strconv.ParseInt(v.Labels[LabelModelVersion], 10, 64)
	if err != nil || n < 1 {
		return 0
	}
	return n
}
