package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Experiment is a hyperparameter search: trials of a training Job, each
// with parameters a search algorithm suggests from the results so far,
// run a few at a time until the goal or the trial budget is reached.
// Field names and meanings are Katib's (kubeflow.org/v1beta1), so a Katib
// Experiment needs little more than this apiVersion.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exp,categories=ml
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.status=="True")].type`
// +kubebuilder:printcolumn:name="Best",type=string,JSONPath=`.status.currentOptimalTrial.observation.metrics[0].latest`
// +kubebuilder:printcolumn:name="Trials",type=integer,JSONPath=`.status.trials`
// +kubebuilder:printcolumn:name="Succeeded",type=integer,JSONPath=`.status.trialsSucceeded`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.trialsRunning`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.trialsFailed`,priority=1
// +kubebuilder:printcolumn:name="Early stopped",type=integer,JSONPath=`.status.trialsEarlyStopped`,priority=1
// +kubebuilder:printcolumn:name="Best trial",type=string,JSONPath=`.status.currentOptimalTrial.bestTrialName`,priority=1
// +kubebuilder:printcolumn:name="Registered",type=integer,JSONPath=`.status.registration.version`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 40",message="metadata.name must start with a letter, hold only lowercase letters, digits and '-', and be at most 40 characters: it names the trials <name>-<suffix> and their Jobs"
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExperimentSpec   `json:"spec"`
	Status ExperimentStatus `json:"status,omitempty"`
}

// ExperimentList is a list of Experiments.
//
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Experiment `json:"items"`
}

// ExperimentSpec is what to optimize, over which space, with which
// algorithm, and the trial to run for each suggestion.
//
// +kubebuilder:validation:XValidation:rule="!has(self.maxTrialCount) || self.parallelTrialCount <= self.maxTrialCount",message="spec.parallelTrialCount must not exceed spec.maxTrialCount"
type ExperimentSpec struct {
	// Objective is the metric to minimize or maximize, as the trial
	// prints it.
	Objective ObjectiveSpec `json:"objective"`

	// Algorithm suggests the trials' parameters.
	// +kubebuilder:default={algorithmName: random}
	Algorithm AlgorithmSpec `json:"algorithm,omitempty"`

	// EarlyStopping stops running trials that are unlikely to do well,
	// from their intermediate results.
	// +optional
	EarlyStopping *EarlyStoppingSpec `json:"earlyStopping,omitempty"`

	// Parameters is the search space.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Parameters []ParameterSpec `json:"parameters"`

	// ParallelTrialCount is how many trials run at once.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	ParallelTrialCount int32 `json:"parallelTrialCount,omitempty"`

	// MaxTrialCount ends the Experiment once that many trials have
	// finished; raising it on a finished Experiment continues it.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxTrialCount *int32 `json:"maxTrialCount,omitempty"`

	// MaxFailedTrialCount fails the Experiment once that many trials have
	// failed.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxFailedTrialCount *int32 `json:"maxFailedTrialCount,omitempty"`

	// TrialTemplate is the Job each trial runs, with
	// ${trialParameters.<name>} replaced by the trial's values.
	TrialTemplate TrialTemplate `json:"trialTemplate"`

	// MetricsCollectorSpec says where the trial's metrics are read: its
	// primary container's output (StdOut, the default) or a file it
	// writes.
	// +optional
	MetricsCollectorSpec *MetricsCollectorSpec `json:"metricsCollectorSpec,omitempty"`

	// Register, when set, gives each trial a folder to write its model to
	// ($SKIFF_OUTPUT_DIR in the primary container) and, once the
	// Experiment succeeds, registers the best trial's model as a new
	// version of a Model, with the trial as its run and its parameters and
	// metrics, and points an alias at it.
	// +optional
	Register *RegisterSpec `json:"register,omitempty"`
}

// RegisterSpec is where the best trial's model is registered.
type RegisterSpec struct {
	// Model is the Model (same namespace) the version joins; it is created
	// when missing.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Model string `json:"model"`
	// Alias is pointed at the new version once it is Ready (challenger);
	// none is moved when empty.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`
	Alias string `json:"alias,omitempty"`
	// ModelFormat is how the trials write their model: model.json in
	// $SKIFF_OUTPUT_DIR (XGBoost's save_model, or skiff's sklearn export).
	ModelFormat ModelFormat `json:"modelFormat"`
	// Output is the volume the trials' folders are on: a
	// PersistentVolumeClaim <experiment>-output the Experiment owns.
	// +optional
	Output *OutputVolume `json:"output,omitempty"`
}

// OutputVolume is the claim made for the trials' outputs.
type OutputVolume struct {
	// StorageClassName is the claim's class; the cluster's default when
	// empty. Parallel trials on several nodes need a class that is
	// ReadWriteMany, and accessMode ReadWriteMany.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// AccessMode is the claim's.
	// +optional
	// +kubebuilder:default=ReadWriteOnce
	// +kubebuilder:validation:Enum=ReadWriteOnce;ReadWriteMany
	AccessMode string `json:"accessMode,omitempty"`
	// Size is the claim's request.
	// +optional
	// +kubebuilder:default="1Gi"
	Size *resource.Quantity `json:"size,omitempty"`
}

// ObjectiveType is the direction of the search.
// +kubebuilder:validation:Enum=minimize;maximize
type ObjectiveType string

const (
	ObjectiveMinimize ObjectiveType = "minimize"
	ObjectiveMaximize ObjectiveType = "maximize"
)

// ObjectiveSpec is the metric a search optimizes.
type ObjectiveSpec struct {
	Type ObjectiveType `json:"type"`
	// Goal ends the Experiment (Succeeded, GoalReached) once a trial's
	// objective reaches it.
	// +optional
	Goal *float64 `json:"goal,omitempty"`
	// ObjectiveMetricName is the metric's name in the trial's output.
	// +kubebuilder:validation:MinLength=1
	ObjectiveMetricName string `json:"objectiveMetricName"`
	// AdditionalMetricNames are recorded with each trial too.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	AdditionalMetricNames []string `json:"additionalMetricNames,omitempty"`
	// MetricStrategies say which value of a metric a trial reports: its
	// min, max or latest (default: min when minimizing, max when
	// maximizing, latest for additional metrics).
	// +optional
	// +listType=map
	// +listMapKey=name
	MetricStrategies []MetricStrategy `json:"metricStrategies,omitempty"`
}

// MetricStrategyType picks one value from a metric's history.
// +kubebuilder:validation:Enum=min;max;latest
type MetricStrategyType string

const (
	StrategyMin    MetricStrategyType = "min"
	StrategyMax    MetricStrategyType = "max"
	StrategyLatest MetricStrategyType = "latest"
)

// MetricStrategy is one metric's strategy.
type MetricStrategy struct {
	Name  string             `json:"name"`
	Value MetricStrategyType `json:"value"`
}

// AlgorithmSpec names a search algorithm and its settings.
type AlgorithmSpec struct {
	// AlgorithmName: grid, random, sobol, tpe (also bayesianoptimization,
	// Optuna's TPE), hyperband or asha.
	// +kubebuilder:validation:Enum=grid;random;sobol;tpe;bayesianoptimization;hyperband;asha
	AlgorithmName string `json:"algorithmName"`
	// AlgorithmSettings are the algorithm's knobs, as strings: random_state
	// (every algorithm), n_startup_trials, n_ei_candidates, prior_weight
	// (tpe), resource_name, eta, r_l (hyperband, asha).
	// +optional
	// +listType=map
	// +listMapKey=name
	AlgorithmSettings []AlgorithmSetting `json:"algorithmSettings,omitempty"`
}

// AlgorithmSetting is one named setting.
type AlgorithmSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// EarlyStoppingSpec names an early-stopping rule and its settings.
type EarlyStoppingSpec struct {
	// AlgorithmName: medianstop stops a trial whose intermediate
	// objective is worse than the median of the finished trials' at the
	// same step.
	// +kubebuilder:validation:Enum=medianstop
	AlgorithmName string `json:"algorithmName"`
	// AlgorithmSettings: min_trials_required (default 3), start_step
	// (default 4).
	// +optional
	// +listType=map
	// +listMapKey=name
	AlgorithmSettings []AlgorithmSetting `json:"algorithmSettings,omitempty"`
}

// ParameterType is a parameter's kind of value.
// +kubebuilder:validation:Enum=double;int;discrete;categorical
type ParameterType string

const (
	ParameterDouble      ParameterType = "double"
	ParameterInt         ParameterType = "int"
	ParameterDiscrete    ParameterType = "discrete"
	ParameterCategorical ParameterType = "categorical"
)

// ParameterSpec is one dimension of the search space.
//
// +kubebuilder:validation:XValidation:rule="self.parameterType in ['double', 'int'] ? (has(self.feasibleSpace.min) && has(self.feasibleSpace.max)) : (has(self.feasibleSpace.list) && size(self.feasibleSpace.list) > 0)",message="a double or int parameter needs feasibleSpace.min and max; a discrete or categorical one needs feasibleSpace.list"
type ParameterSpec struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name          string        `json:"name"`
	ParameterType ParameterType `json:"parameterType"`
	FeasibleSpace FeasibleSpace `json:"feasibleSpace"`
}

// Distribution is how values are drawn between min and max.
// +kubebuilder:validation:Enum=uniform;logUniform
type Distribution string

const (
	DistributionUniform    Distribution = "uniform"
	DistributionLogUniform Distribution = "logUniform"
)

// FeasibleSpace is a parameter's values: a range (min, max and an
// optional step) or a list. Numbers are strings, as in Katib.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.min) && has(self.max)) || double(self.min) < double(self.max)",message="feasibleSpace.min must be less than max"
// +kubebuilder:validation:XValidation:rule="!has(self.distribution) || self.distribution != 'logUniform' || !has(self.min) || double(self.min) > 0.0",message="a logUniform range needs min > 0"
type FeasibleSpace struct {
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$`
	Min string `json:"min,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$`
	Max string `json:"max,omitempty"`
	// Step makes a range a grid (needed by the grid algorithm for a
	// double).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$`
	Step string `json:"step,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=253
	List []string `json:"list,omitempty"`
	// +optional
	Distribution Distribution `json:"distribution,omitempty"`
}

// TrialTemplate is the Job a trial runs.
type TrialTemplate struct {
	// PrimaryContainerName is the container whose output holds the
	// metrics and whose end is the trial's end.
	// +kubebuilder:validation:MinLength=1
	PrimaryContainerName string `json:"primaryContainerName"`
	// TrialParameters name what ${trialParameters.<name>} is replaced
	// with in TrialSpec: reference names a parameter of spec.parameters,
	// or ${trialSpec.Name} (the trial's name).
	// +listType=map
	// +listMapKey=name
	TrialParameters []TrialParameterSpec `json:"trialParameters"`
	// TrialSpec is a batch/v1 Job.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:EmbeddedResource
	// +kubebuilder:validation:XValidation:rule="self.apiVersion == 'batch/v1' && self.kind == 'Job'",message="trialTemplate.trialSpec must be a batch/v1 Job"
	TrialSpec runtime.RawExtension `json:"trialSpec"`
	// Retain keeps a finished trial's Job and pods (for their logs); by
	// default they are removed once the trial's result is recorded.
	// +optional
	Retain bool `json:"retain,omitempty"`
}

// TrialParameterSpec is one substitution of the trial template.
type TrialParameterSpec struct {
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`
	// +optional
	Description string `json:"description,omitempty"`
	// Reference is the parameter's name in spec.parameters.
	Reference string `json:"reference"`
}

// CollectorKind is where metrics are read.
// +kubebuilder:validation:Enum=StdOut;File
type CollectorKind string

const (
	CollectorStdOut CollectorKind = "StdOut"
	CollectorFile   CollectorKind = "File"
)

// MetricsCollectorSpec is Katib's metrics collector, without a sidecar:
// skiff reads the primary container's log through the API (StdOut), or
// the file the trial writes (File; default /var/log/katib/metrics.log),
// which a shell wrapper around the container's command copies to the log
// once the command ends.
type MetricsCollectorSpec struct {
	// +optional
	Collector *CollectorSpec `json:"collector,omitempty"`
	// +optional
	Source *SourceSpec `json:"source,omitempty"`
}

// CollectorSpec names the collector.
type CollectorSpec struct {
	// +kubebuilder:default=StdOut
	Kind CollectorKind `json:"kind,omitempty"`
}

// SourceSpec is where and how metrics are written.
type SourceSpec struct {
	// FileSystemPath is the file of a File collector.
	// +optional
	FileSystemPath *FileSystemPath `json:"fileSystemPath,omitempty"`
	// Filter is the lines' format.
	// +optional
	Filter *FilterSpec `json:"filter,omitempty"`
}

// FileSystemPath is a metrics file in the primary container.
type FileSystemPath struct {
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`
	// Format: TEXT (name=value lines) or JSON (one object a line).
	// +optional
	// +kubebuilder:validation:Enum=TEXT;JSON
	Format string `json:"format,omitempty"`
}

// FilterSpec holds regular expressions whose two groups are a metric's
// name and value (Katib's metricsFormat); the default reads name=value
// and JSON lines.
type FilterSpec struct {
	// +optional
	MetricsFormat []string `json:"metricsFormat,omitempty"`
}

// ExperimentStatus is the search's progress and its best trial.
type ExperimentStatus struct {
	// ObservedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Created, Running, Succeeded (reason GoalReached or
	// MaxTrialsReached), Failed (reason MaxFailedTrialsReached, or what
	// is wrong with the spec), and with spec.register, Registered (the
	// best trial's model is a Ready version and the alias points at it).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// CurrentOptimalTrial is the best trial so far.
	// +optional
	CurrentOptimalTrial *OptimalTrial `json:"currentOptimalTrial,omitempty"`
	// Trial counts.
	Trials             int32 `json:"trials,omitempty"`
	TrialsPending      int32 `json:"trialsPending,omitempty"`
	TrialsRunning      int32 `json:"trialsRunning,omitempty"`
	TrialsSucceeded    int32 `json:"trialsSucceeded,omitempty"`
	TrialsFailed       int32 `json:"trialsFailed,omitempty"`
	TrialsEarlyStopped int32 `json:"trialsEarlyStopped,omitempty"`
	// Registration is what spec.register made of the best trial.
	// +optional
	Registration *Registration `json:"registration,omitempty"`
}

// Registration is the version registered from an Experiment's best trial.
type Registration struct {
	// Trial is the trial whose model was registered.
	Trial string `json:"trial"`
	// ModelVersion is the version object registered from it.
	ModelVersion string `json:"modelVersion"`
	// Version is its number, once the registry gave it one.
	// +optional
	Version int64 `json:"version,omitempty"`
	// AliasSet says spec.register.alias was pointed at the version.
	// +optional
	AliasSet bool `json:"aliasSet,omitempty"`
}

// OptimalTrial is a trial's parameters and observation.
type OptimalTrial struct {
	BestTrialName string `json:"bestTrialName"`
	// +optional
	ParameterAssignments []ParameterAssignment `json:"parameterAssignments,omitempty"`
	// +optional
	Observation *Observation `json:"observation,omitempty"`
}

// ParameterAssignment is one parameter's value in a trial.
type ParameterAssignment struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Observation is a trial's metrics: the objective first.
type Observation struct {
	// +optional
	Metrics []Metric `json:"metrics,omitempty"`
}

// Metric is one metric's min, max and latest value (strings, as Katib's).
type Metric struct {
	Name   string `json:"name"`
	Min    string `json:"min,omitempty"`
	Max    string `json:"max,omitempty"`
	Latest string `json:"latest,omitempty"`
}
