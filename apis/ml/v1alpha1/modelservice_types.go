package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ModelService is a model served as a scalable REST and gRPC API: the
// Deployment, Service and autoscaler a careful engineer would write by
// hand, kept in line with one object. Field names follow KServe's
// InferenceService.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ms,categories=ml
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=string,JSONPath=`.status.replicaSummary`,priority=0
// +kubebuilder:printcolumn:name="Traffic",type=string,JSONPath=`.status.trafficSummary`
// +kubebuilder:printcolumn:name="Rollout",type=string,JSONPath=`.status.rollout.phase`,priority=1
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.status.modelVersion.version`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 53",message="metadata.name must start with a letter, hold only lowercase letters, digits and '-', and be at most 53 characters: it names the Service <name>-predictor"
type ModelService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ModelServiceSpec   `json:"spec"`
	Status ModelServiceStatus `json:"status,omitempty"`
}

// ModelServiceList is a list of ModelServices.
//
// +kubebuilder:object:root=true
type ModelServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ModelService `json:"items"`
}

// ModelServiceSpec is what to serve, how far to scale it and how a new
// revision takes over its traffic.
//
// +kubebuilder:validation:XValidation:rule="!has(self.traffic) || (!has(self.predictor.canaryTrafficPercent) && !has(self.predictor.shadowTrafficPercent) && !has(self.rollout))",message="spec.traffic sets every share itself: remove predictor.canaryTrafficPercent, predictor.shadowTrafficPercent and rollout, or remove traffic"
// +kubebuilder:validation:XValidation:rule="!has(self.rollout) || (!has(self.predictor.canaryTrafficPercent) && !has(self.predictor.shadowTrafficPercent))",message="spec.rollout moves the canary's share itself: remove predictor.canaryTrafficPercent and predictor.shadowTrafficPercent, or remove rollout"
type ModelServiceSpec struct {
	// Predictor is the model server: a model skiff serves natively, or
	// containers of your own.
	Predictor PredictorSpec `json:"predictor"`

	// Traffic pins shares of requests to named variants (Knative's
	// spec.traffic): an A/B test between revisions. A request with the
	// header x-variant: <tag>, or the cookie x-variant=<tag>, goes to that
	// variant only; any other is split by percent, and its answer sets the
	// cookie, so a caller stays with the variant it first got. Seven at
	// most: each takes two of an HTTPRoute's sixteen rules.
	// +optional
	// +listType=map
	// +listMapKey=tag
	// +kubebuilder:validation:MaxItems=7
	// +kubebuilder:validation:XValidation:rule="self.map(t, t.percent).sum() == 100",message="spec.traffic percents must add up to 100"
	// +kubebuilder:validation:XValidation:rule="self.filter(t, has(t.latestRevision) && t.latestRevision).size() <= 1",message="at most one spec.traffic entry may follow latestRevision"
	Traffic []TrafficSpec `json:"traffic,omitempty"`

	// Rollout is how a new revision takes over: a canary moved by steps
	// and checked against the stable revision (rolled back when it does
	// worse), or blue/green. Without it a ready revision takes all traffic
	// at once (or the share predictor.canaryTrafficPercent gives).
	// +optional
	Rollout *RolloutSpec `json:"rollout,omitempty"`
}

// PredictorSpec is one model server. Every change to it makes a new
// revision; the last ready revision serves until the new one is ready.
//
// +kubebuilder:validation:XValidation:rule="has(self.model) != has(self.containers)",message="set exactly one of predictor.model (a model file skiff serves) or predictor.containers (your own model server)"
// +kubebuilder:validation:XValidation:rule="!has(self.maxReplicas) || self.maxReplicas == 0 || self.minReplicas <= self.maxReplicas",message="predictor.minReplicas must not exceed predictor.maxReplicas"
// +kubebuilder:validation:XValidation:rule="!(has(self.canaryTrafficPercent) && has(self.shadowTrafficPercent))",message="set at most one of predictor.canaryTrafficPercent (the new revision answers a share) and predictor.shadowTrafficPercent (it gets copies, the stable one answers)"
// +kubebuilder:validation:XValidation:rule="!has(self.resources) || has(self.model)",message="predictor.resources applies to predictor.model; with predictor.containers set resources on each container"
// +kubebuilder:validation:XValidation:rule="!has(self.scaleTarget) || !(self.scaleMetric in ['cpu', 'memory']) || self.scaleTarget <= 100",message="predictor.scaleTarget is a percent of the pods' request for scaleMetric cpu or memory: at most 100"
type PredictorSpec struct {
	// Model is a model file served by skiff's own model server (Open
	// Inference Protocol v2 over REST and gRPC, KServe v1, POST /predict).
	// +optional
	Model *ModelSpec `json:"model,omitempty"`

	// Containers are your own model server: the first one serves, on its
	// first containerPort (8080 if none), and gets requests with their
	// path unchanged.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:XValidation:rule="self.all(c, has(c.image) && c.image != '')",message="every predictor container needs an image"
	Containers []corev1.Container `json:"containers,omitempty"`

	// MinReplicas is the fewest pods that serve. 0 scales a revision to
	// zero after autoscaling.scaleToZeroGracePeriod without requests; the
	// gateway then holds the next request, wakes the revision and sends
	// the request on once a pod is ready (it needs skiff's gateway).
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas, above minReplicas, lets an autoscaler add pods up to
	// it; 0 or unset means minReplicas pods, always (and at most one pod
	// with minReplicas 0).
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxReplicas int32 `json:"maxReplicas,omitempty"`

	// ScaleMetric is what the autoscaler watches: cpu or memory (a
	// HorizontalPodAutoscaler, in percent of the pods' request), or
	// concurrency (requests in flight per pod) or rps (requests a second
	// per pod), which skiff's gateway counts and Knative's KPA algorithm
	// scales on (see autoscaling).
	// +kubebuilder:validation:Enum=cpu;memory;concurrency;rps
	// +kubebuilder:default=cpu
	// +optional
	ScaleMetric ScaleMetric `json:"scaleMetric,omitempty"`

	// ScaleTarget is what the autoscaler keeps per pod: percent of the
	// request for cpu and memory (default 80, at most 100), requests in
	// flight for concurrency (default 100), requests a second for rps
	// (default 200), as Knative's autoscaling.knative.dev/target.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ScaleTarget *int32 `json:"scaleTarget,omitempty"`

	// ContainerConcurrency is the most requests one pod gets at once from
	// the gateway; more wait at the gateway for a free pod (KServe's and
	// Knative's hard limit). 0 or unset is no limit.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	ContainerConcurrency *int64 `json:"containerConcurrency,omitempty"`

	// Autoscaling tunes the request autoscaler (scaleMetric concurrency
	// or rps, and minReplicas 0). Its fields are Knative's
	// autoscaling.knative.dev annotations, by the same names.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`

	// Resources of the model server container (predictor.model only).
	// An autoscaler needs a request of scaleMetric; 100m of CPU and 64Mi
	// of memory are requested when none is given.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// ServiceAccountName runs the pods as this service account.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// CanaryTrafficPercent, as in KServe, sends this share of requests to
	// the latest ready revision and the rest to the stable one (the last
	// revision that had all traffic). 100, or removing the field,
	// promotes the latest revision; 0 sends everything back to the stable
	// one. The split is made by the gateway's HTTPRoute.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	CanaryTrafficPercent *int32 `json:"canaryTrafficPercent,omitempty"`

	// ShadowTrafficPercent sends a copy of this share of requests to the
	// latest ready revision while the stable one answers all of them: the
	// shadow's answers and failures are counted in the gateway's metrics
	// (role="mirror") and never reach a caller. Removing the field
	// promotes the latest revision, as with canaryTrafficPercent.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	ShadowTrafficPercent *int32 `json:"shadowTrafficPercent,omitempty"`
}

// ScaleMetric names what an autoscaler watches.
type ScaleMetric string

// The metrics a ModelService scales on.
const (
	ScaleMetricCPU         ScaleMetric = "cpu"
	ScaleMetricMemory      ScaleMetric = "memory"
	ScaleMetricConcurrency ScaleMetric = "concurrency"
	ScaleMetricRPS         ScaleMetric = "rps"
)

// AutoscalingSpec tunes the request autoscaler: Knative's KPA, with the
// names (and defaults) of its autoscaling.knative.dev annotations.
//
// +kubebuilder:validation:XValidation:rule="!has(self.window) || (duration(self.window) >= duration('6s') && duration(self.window) <= duration('1h'))",message="autoscaling.window must be between 6s and 1h"
// +kubebuilder:validation:XValidation:rule="!has(self.scaleToZeroGracePeriod) || duration(self.scaleToZeroGracePeriod) >= duration('1s')",message="autoscaling.scaleToZeroGracePeriod must be at least 1s"
// +kubebuilder:validation:XValidation:rule="!has(self.scaleDownDelay) || (duration(self.scaleDownDelay) >= duration('0s') && duration(self.scaleDownDelay) <= duration('1h'))",message="autoscaling.scaleDownDelay must be between 0s and 1h"
// +kubebuilder:validation:XValidation:rule="!has(self.coldStartTimeout) || duration(self.coldStartTimeout) >= duration('1s')",message="autoscaling.coldStartTimeout must be at least 1s"
type AutoscalingSpec struct {
	// Window is the stable window: the autoscaler scales on the average
	// of scaleMetric over it (6s to 1h).
	// +kubebuilder:default="60s"
	// +optional
	Window *metav1.Duration `json:"window,omitempty"`

	// PanicWindowPercentage is the panic window, in percent of window: a
	// burst is seen over it.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=10
	// +optional
	PanicWindowPercentage *int32 `json:"panicWindowPercentage,omitempty"`

	// PanicThresholdPercentage: when the panic window asks for this
	// percent of the ready pods or more, the autoscaler panics: it scales
	// on the panic window and does not scale down until a stable window
	// has passed without a burst.
	// +kubebuilder:validation:Minimum=110
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=200
	// +optional
	PanicThresholdPercentage *int32 `json:"panicThresholdPercentage,omitempty"`

	// TargetUtilizationPercentage is the share of scaleTarget the
	// autoscaler aims at, leaving room for a burst while pods start.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=70
	// +optional
	TargetUtilizationPercentage *int32 `json:"targetUtilizationPercentage,omitempty"`

	// MaxScaleUpRate: one decision multiplies the ready pods by at most
	// this.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:default=1000
	// +optional
	MaxScaleUpRate *int32 `json:"maxScaleUpRate,omitempty"`

	// MaxScaleDownRate: one decision divides the ready pods by at most
	// this.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:default=2
	// +optional
	MaxScaleDownRate *int32 `json:"maxScaleDownRate,omitempty"`

	// ScaleDownDelay: a scale-down takes effect only once it has been
	// wanted for this long (the most pods asked for in it stay).
	// +kubebuilder:default="0s"
	// +optional
	ScaleDownDelay *metav1.Duration `json:"scaleDownDelay,omitempty"`

	// InitialScale is the pods a new revision starts with, before it has
	// traffic (also with minReplicas 0, so it can become ready).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=1
	// +optional
	InitialScale *int32 `json:"initialScale,omitempty"`

	// ScaleToZeroGracePeriod: with minReplicas 0, a revision with no
	// request for this long scales to zero (never while a pod is still
	// starting or loading its model).
	// +kubebuilder:default="30s"
	// +optional
	ScaleToZeroGracePeriod *metav1.Duration `json:"scaleToZeroGracePeriod,omitempty"`

	// ColdStartTimeout is how long the gateway holds a request for a
	// revision at zero while it wakes: long enough to load a large model.
	// Past it the request is answered 503 with Retry-After.
	// +kubebuilder:default="300s"
	// +optional
	ColdStartTimeout *metav1.Duration `json:"coldStartTimeout,omitempty"`

	// MaxHeldRequests bounds the requests the gateway holds for a
	// revision with no ready pod; past it requests are answered 503 with
	// Retry-After.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=1000
	// +optional
	MaxHeldRequests *int32 `json:"maxHeldRequests,omitempty"`
}

// ModelSpec is a model file and its format.
type ModelSpec struct {
	// ModelFormat says how to read the file.
	ModelFormat ModelFormat `json:"modelFormat"`

	// StorageURI is where the model is: a model file (an XGBoost
	// Booster.save_model JSON, or skiff's scikit-learn export) or a
	// folder holding one model.json. file:///<path> is a path on the node
	// (only it is mounted, read-only: a path ending in .json is a file,
	// any other a folder); pvc://<claim>/<path> is a path in a
	// PersistentVolumeClaim of the namespace. s3://<bucket>/<key> (a .json,
	// or a prefix holding model.json) is fetched by an init container
	// with the operator's S3 endpoint and the keys of Secret
	// skiff-s3-credentials. models:/<model>@<alias> and
	// models:/<model>/<version> serve a version of the namespace's model
	// registry (MLflow's URIs): moving the alias rolls the new version
	// out, and the version's own format is served.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.matches('^file:///+[^/]') || self.matches('^pvc://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/.*)?$') || self.matches('^s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9]/.+$') || self.matches('^models:/[a-z0-9]([-a-z0-9.]*[a-z0-9])?(@[a-z0-9]([-a-z0-9]*[a-z0-9])?|/[1-9][0-9]*)$')",message="storageUri must be file:///<absolute path on the node>, pvc://<claim name>/<path in the claim>, s3://<bucket>/<key>, models:/<model>@<alias> or models:/<model>/<version>"
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)\\\\.\\\\.(/|$)')",message="storageUri must not contain '..'"
	StorageURI string `json:"storageUri"`
}

// ModelFormat names a model file's format.
type ModelFormat struct {
	// Name is xgboost or sklearn (what skiff's model server evaluates).
	// +kubebuilder:validation:Enum=xgboost;sklearn
	Name string `json:"name"`

	// Version of the format or library that wrote the file; informative.
	// +optional
	Version string `json:"version,omitempty"`
}

// ModelServiceStatus is what is serving and whether it works.
type ModelServiceStatus struct {
	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (the latest revision serves all traffic),
	// LatestRevisionReady and Serving (some revision answers at url).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// URL is the base of the model's API. A native model answers at
	// <url>/v2/models/<name>/infer; a custom predictor gets the path
	// unchanged.
	// +optional
	URL string `json:"url,omitempty"`

	// Address is the in-cluster address.
	// +optional
	Address *Addressable `json:"address,omitempty"`

	// Replicas is the number of predictor pods; ReadyReplicas how many of
	// them are ready.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// ReplicaSummary is the replicas in one line, for kubectl get: ready
	// of desired, and "0 (scaled to zero)" for a revision at zero.
	// +optional
	ReplicaSummary string `json:"replicaSummary,omitempty"`

	// LatestCreatedRevision is the revision of the current spec.
	// +optional
	LatestCreatedRevision string `json:"latestCreatedRevision,omitempty"`
	// LatestReadyRevision is the newest revision that became ready.
	// +optional
	LatestReadyRevision string `json:"latestReadyRevision,omitempty"`
	// StableRevision is the last revision that had all traffic: the one a
	// canary is compared with and an abort returns to.
	// +optional
	StableRevision string `json:"stableRevision,omitempty"`

	// Revisions are the revisions that have pods, newest first.
	// +optional
	// +listType=map
	// +listMapKey=name
	Revisions []RevisionStatus `json:"revisions,omitempty"`

	// Traffic is where requests go.
	// +optional
	Traffic []TrafficTarget `json:"traffic,omitempty"`
	// Rollout is the progress of the latest revision's rollout, and the
	// outcome of earlier ones.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// TrafficSummary is traffic in one line, for kubectl get.
	// +optional
	TrafficSummary string `json:"trafficSummary,omitempty"`

	// Model is what the serving model takes and returns (native models).
	// +optional
	Model *ModelStatus `json:"model,omitempty"`

	// ModelVersion is the registry version the latest revision serves,
	// when storageUri is models:/.
	// +optional
	ModelVersion *ServedModelVersion `json:"modelVersion,omitempty"`
}

// ServedModelVersion is a version of the model registry a ModelService
// serves.
type ServedModelVersion struct {
	// Model is the Model's name.
	Model string `json:"model"`
	// Version is the version number.
	Version int64 `json:"version"`
	// Alias is the alias storageUri names, if any.
	// +optional
	Alias string `json:"alias,omitempty"`
	// Name is the ModelVersion object's.
	Name string `json:"name"`
	// Checksum is the served file's, "sha256:<hex>".
	// +optional
	Checksum string `json:"checksum,omitempty"`
}

// Addressable is an address.
type Addressable struct {
	URL string `json:"url,omitempty"`
}

// RevisionStatus is one revision: a version of spec.predictor.
type RevisionStatus struct {
	// Name is <modelservice>-<number, five digits>.
	Name string `json:"name"`
	// Number counts the revisions of this ModelService from 1.
	Number int32 `json:"number"`
	// Replicas is its number of pods, ReadyReplicas the ready ones.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// Ready says whether it has served (True), cannot (False, with a
	// reason), or is starting (Unknown).
	Ready metav1.ConditionStatus `json:"ready"`
	// Reason and Message say why it is not ready.
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Autoscaling is what the request autoscaler last decided for it.
	// +optional
	Autoscaling *RevisionAutoscaling `json:"autoscaling,omitempty"`
	// ModelVersion is the registry version the revision serves,
	// <model>/<version>, when storageUri is models:/.
	// +optional
	ModelVersion string `json:"modelVersion,omitempty"`
}

// RevisionAutoscaling is the request autoscaler's last decision for a
// revision, and its scale to and from zero.
type RevisionAutoscaling struct {
	// DesiredReplicas is the pods it asked for.
	DesiredReplicas int32 `json:"desiredReplicas"`
	// Reason says why, in words: the observed metric and the target, or
	// the time without requests.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Panic is true while a burst has it scale on the panic window.
	// +optional
	Panic bool `json:"panic,omitempty"`
	// ScaledToZero is true while the revision has no pods for want of
	// requests; ScaledToZeroTime is when it last went to zero.
	// +optional
	ScaledToZero bool `json:"scaledToZero,omitempty"`
	// +optional
	ScaledToZeroTime *metav1.Time `json:"scaledToZeroTime,omitempty"`
	// LastWakeTime is when it last scaled up from zero, and WakeReason
	// why (a request the gateway held).
	// +optional
	LastWakeTime *metav1.Time `json:"lastWakeTime,omitempty"`
	// +optional
	WakeReason string `json:"wakeReason,omitempty"`
	// LastScaleTime is when it last changed the revision's pods.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`
}

// TrafficTarget is a share of requests for one revision.
type TrafficTarget struct {
	RevisionName string `json:"revisionName"`
	Percent      int32  `json:"percent"`
	// LatestRevision is true when this is the latest created revision.
	// +optional
	LatestRevision bool `json:"latestRevision,omitempty"`
	// ShadowPercent is the share of requests copied to this revision,
	// whose answers are dropped.
	// +optional
	ShadowPercent int32 `json:"shadowPercent,omitempty"`
	// Tag is the variant of spec.traffic this share is.
	// +optional
	Tag string `json:"tag,omitempty"`
}

// ModelStatus describes the served model.
type ModelStatus struct {
	// Name is the model's name in the Open Inference Protocol.
	Name string `json:"name"`
	// Format is the modelFormat served.
	// +optional
	Format string `json:"format,omitempty"`
	// Revision is the revision whose model server reported the metadata.
	// +optional
	Revision string `json:"revision,omitempty"`
	// Inputs and Outputs are the model's tensors, as its Open Inference
	// Protocol metadata gives them (-1: any number of rows).
	// +optional
	Inputs []TensorSpec `json:"inputs,omitempty"`
	// +optional
	Outputs []TensorSpec `json:"outputs,omitempty"`
}

// TensorSpec is one input or output of a model.
type TensorSpec struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape,omitempty"`
}

// Condition types of a ModelService.
const (
	// ConditionReady: the latest revision is ready and gets all traffic.
	ConditionReady = "Ready"
	// ConditionLatestRevisionReady: the latest revision's pods are ready.
	ConditionLatestRevisionReady = "LatestRevisionReady"
	// ConditionServing: some revision answers at status.url.
	ConditionServing = "Serving"
)
