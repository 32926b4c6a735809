package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TrafficSpec is one variant of an A/B test: a revision and its share.
//
// +kubebuilder:validation:XValidation:rule="has(self.revisionName) != (has(self.latestRevision) && self.latestRevision)",message="each spec.traffic entry names exactly one of revisionName or latestRevision: true"
type TrafficSpec struct {
	// Tag names the variant, in the x-variant header and cookie.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Tag string `json:"tag"`

	// RevisionName is a revision that exists, e.g. housing-00001.
	// +optional
	RevisionName string `json:"revisionName,omitempty"`

	// LatestRevision follows the latest ready revision.
	// +optional
	LatestRevision *bool `json:"latestRevision,omitempty"`

	// Percent of the requests without a variant that this one answers.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`
}

// RolloutStrategy is how a new revision takes over.
//
// +kubebuilder:validation:Enum=Canary;BlueGreen
type RolloutStrategy string

// The rollout strategies.
const (
	// RolloutCanary moves a share of traffic to the new revision step by
	// step, checking it against the stable one.
	RolloutCanary RolloutStrategy = "Canary"
	// RolloutBlueGreen brings the new revision up at full size and
	// switches all traffic to it at once, keeping the old one until
	// promoted.
	RolloutBlueGreen RolloutStrategy = "BlueGreen"
)

// RolloutSpec is how a new revision takes over a ModelService's traffic.
//
// +kubebuilder:validation:XValidation:rule="self.strategy != 'Canary' || (has(self.steps) && size(self.steps) > 0)",message="rollout.strategy Canary needs rollout.steps, e.g. [{setWeight: 10, pause: 30s}, {setWeight: 50, pause: 30s}]"
// +kubebuilder:validation:XValidation:rule="self.strategy != 'BlueGreen' || (!has(self.steps) && !has(self.analysis))",message="rollout.strategy BlueGreen takes neither steps nor analysis: the new revision gets all traffic once all its pods are ready"
type RolloutSpec struct {
	// Strategy is Canary (steps, with analysis) or BlueGreen.
	// +kubebuilder:default=Canary
	// +optional
	Strategy RolloutStrategy `json:"strategy,omitempty"`

	// Steps are the canary's shares, in order; after the last one the new
	// revision is promoted.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	Steps []RolloutStep `json:"steps,omitempty"`

	// Analysis compares the canary with the stable revision over each
	// window of the gateway's request metrics and rolls back a canary
	// that does worse.
	// +optional
	Analysis *AnalysisSpec `json:"analysis,omitempty"`
}

// RolloutStep is one share of a canary, held for a while.
type RolloutStep struct {
	// SetWeight is the canary's percent of requests (Argo Rollouts' name).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	SetWeight int32 `json:"setWeight"`

	// Pause is how long the step lasts before the next one.
	// +kubebuilder:default="30s"
	// +optional
	Pause metav1.Duration `json:"pause,omitempty"`
}

// AnalysisSpec are the checks a canary must pass, as Flagger's and Argo
// Rollouts' analyses make them: the canary against the stable revision
// over the same window.
//
// +kubebuilder:validation:XValidation:rule="has(self.maxErrorRatePercent) || has(self.maxLatencyP99Increase)",message="rollout.analysis needs a check: maxErrorRatePercent, maxLatencyP99Increase or both"
type AnalysisSpec struct {
	// Interval is the shortest window judged.
	// +kubebuilder:default="10s"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`

	// MinRequests is how many requests the canary must have answered in a
	// window before it is judged; a window grows until it has them.
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinRequests int32 `json:"minRequests,omitempty"`

	// MaxErrorRatePercent is how many points the canary's share of 5xx
	// answers may exceed the stable revision's.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxErrorRatePercent *int32 `json:"maxErrorRatePercent,omitempty"`

	// MaxLatencyP99Increase is how much the canary's 99th percentile
	// latency may exceed the stable revision's.
	// +optional
	MaxLatencyP99Increase *metav1.Duration `json:"maxLatencyP99Increase,omitempty"`
}

// RolloutPhase is where a rollout stands.
type RolloutPhase string

// The phases of a rollout.
const (
	// RolloutProgressing: the canary is at status.rollout.weight, or a
	// blue/green revision is starting.
	RolloutProgressing RolloutPhase = "Progressing"
	// RolloutSwitched: blue/green sent all traffic to the new revision;
	// the old one is kept until promoted.
	RolloutSwitched RolloutPhase = "Switched"
	// RolloutPromoted: the new revision is the stable one.
	RolloutPromoted RolloutPhase = "Promoted"
	// RolloutRolledBack: the analysis failed; the stable revision has all
	// traffic.
	RolloutRolledBack RolloutPhase = "RolledBack"
	// RolloutAborted: a user sent all traffic back to the stable revision.
	RolloutAborted RolloutPhase = "Aborted"
	// RolloutSuperseded: a newer revision came before this one finished.
	RolloutSuperseded RolloutPhase = "Superseded"
)

// RolloutStatus is the latest revision's rollout and what became of
// earlier ones.
type RolloutStatus struct {
	// Revision is the revision being rolled out.
	Revision string `json:"revision"`
	// Strategy is the rollout's strategy.
	Strategy RolloutStrategy `json:"strategy"`
	// Phase is where it stands.
	Phase RolloutPhase `json:"phase"`
	// Step is the index of the current step in spec.rollout.steps.
	// +optional
	Step int32 `json:"step,omitempty"`
	// Weight is the canary's percent of requests now.
	// +optional
	Weight int32 `json:"weight,omitempty"`
	// StepStartTime is when the current step began.
	// +optional
	StepStartTime *metav1.Time `json:"stepStartTime,omitempty"`
	// Message says what happened last, with the numbers.
	// +optional
	Message string `json:"message,omitempty"`
	// LastAnalysis is the last window judged.
	// +optional
	LastAnalysis *AnalysisResult `json:"lastAnalysis,omitempty"`
	// History is how earlier rollouts ended, newest first (ten at most).
	// +optional
	History []RolloutRecord `json:"history,omitempty"`
}

// AnalysisResult is one window of the canary against the stable revision.
type AnalysisResult struct {
	// Time is the window's end.
	Time metav1.Time `json:"time"`
	// Step is the index of the step the window belongs to.
	// +optional
	Step int32 `json:"step,omitempty"`
	// Canary and Stable are the two revisions' numbers in the window.
	Canary RevisionMetrics `json:"canary"`
	Stable RevisionMetrics `json:"stable"`
	// Passed says whether every check held.
	Passed bool `json:"passed"`
	// Message names the check that failed, with its numbers.
	// +optional
	Message string `json:"message,omitempty"`
}

// RevisionMetrics are one revision's requests in an analysis window.
type RevisionMetrics struct {
	Revision string `json:"revision"`
	// Requests answered, and of them with a 5xx code.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// LatencyP99 is the 99th percentile of the requests' durations.
	// +optional
	LatencyP99 *metav1.Duration `json:"latencyP99,omitempty"`
}

// RolloutRecord is how one rollout ended.
type RolloutRecord struct {
	Revision string          `json:"revision"`
	Strategy RolloutStrategy `json:"strategy"`
	Phase    RolloutPhase    `json:"phase"`
	Time     metav1.Time     `json:"time"`
	// +optional
	Message string `json:"message,omitempty"`
}
