package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Trial is one run of an Experiment's trial template with one set of
// parameters: its Job, and the metrics read from its output. The
// Experiment's controller creates it; its results are the Experiment's
// history, one small object per trial.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ml
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Objective",type=string,JSONPath=`.status.observation.metrics[0].latest`
// +kubebuilder:printcolumn:name="Parameters",type=string,JSONPath=`.status.parametersSummary`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.status=="True")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Trial struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TrialSpec   `json:"spec"`
	Status TrialStatus `json:"status,omitempty"`
}

// TrialList is a list of Trials.
//
// +kubebuilder:object:root=true
type TrialList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Trial `json:"items"`
}

// TrialSpec is what the trial runs and what it reports.
type TrialSpec struct {
	// Objective is the Experiment's, copied so the trial is read alone.
	Objective ObjectiveSpec `json:"objective"`
	// ParameterAssignments are the trial's values.
	// +listType=map
	// +listMapKey=name
	ParameterAssignments []ParameterAssignment `json:"parameterAssignments"`
	// RunSpec is the Job, with the parameters substituted.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:EmbeddedResource
	RunSpec runtime.RawExtension `json:"runSpec"`
	// PrimaryContainerName is the container whose output holds the metrics.
	PrimaryContainerName string `json:"primaryContainerName"`
	// MetricsCollector is the Experiment's.
	// +optional
	MetricsCollector *MetricsCollectorSpec `json:"metricsCollector,omitempty"`
	// Retain keeps the Job and its pods once the trial ends.
	// +optional
	Retain bool `json:"retain,omitempty"`
}

// TrialPhase is where a trial is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;EarlyStopped;MetricsUnavailable
type TrialPhase string

const (
	TrialPending            TrialPhase = "Pending"
	TrialRunning            TrialPhase = "Running"
	TrialSucceeded          TrialPhase = "Succeeded"
	TrialFailed             TrialPhase = "Failed"
	TrialEarlyStopped       TrialPhase = "EarlyStopped"
	TrialMetricsUnavailable TrialPhase = "MetricsUnavailable"
)

// Finished says whether a trial in this phase will not change again.
func (p TrialPhase) Finished() bool {
	switch p {
	case TrialSucceeded, TrialFailed, TrialEarlyStopped, TrialMetricsUnavailable:
		return true
	}
	return false
}

// TrialStatus is the trial's phase and results.
type TrialStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Phase TrialPhase `json:"phase,omitempty"`
	// Conditions: Created, Running, Succeeded, Failed, EarlyStopped,
	// MetricsUnavailable (the objective was never printed: the message
	// says which metric and what lines were seen).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// JobName is the trial's Job.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// Observation is the metrics, the objective first.
	// +optional
	Observation *Observation `json:"observation,omitempty"`
	// History is the objective's intermediate values, by step (the last
	// 100), for early stopping and for people.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	History []MetricPoint `json:"history,omitempty"`
	// ParametersSummary is the assignments in one line, for kubectl get.
	// +optional
	ParametersSummary string `json:"parametersSummary,omitempty"`
}

// MetricPoint is one intermediate value of the objective.
type MetricPoint struct {
	Step  int64  `json:"step"`
	Value string `json:"value"`
}
