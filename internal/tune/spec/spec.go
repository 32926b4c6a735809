// Package spec builds the Experiment that `skiff tune` runs from its
// command line: a training script, its parameters as name=kind:range,
// the metric to optimize and the budgets. The script's folder reaches the
// trial pods read-only (a hostPath on skiff's node); elsewhere an image
// that holds it is named instead.
package spec

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/serve"
)

// Request is what skiff tune was asked.
type Request struct {
	Name, Namespace string
	Script          string // the training script's path
	Params          []string
	Maximize        string // the metric; one of Maximize and Minimize
	Minimize        string
	Trials          int32
	Parallel        int32
	MaxFailed       int32
	Algorithm       string
	EarlyStopping   string
	Seed            string // random_state, "" for the Experiment's own
	Image           string // "" on skiff's node: the script's folder is mounted
	Python          string
}

// NameFor is an Experiment name from the script's file name.
func NameFor(script string) string {
	return serve.Label(strings.TrimSuffix(filepath.Base(script), filepath.Ext(script)), "tune")
}

// Param reads one --param: name=double:MIN:MAX, logUniform:MIN:MAX,
// int:MIN:MAX, categorical:A,B,C or discrete:1,2,4; a range may end with
// :STEP.
func Param(flag string) (mlv1.ParameterSpec, error) {
	name, def, ok := strings.Cut(flag, "=")
	kind, rest, ok2 := strings.Cut(def, ":")
	if !ok || !ok2 || name == "" || rest == "" {
		return mlv1.ParameterSpec{}, fmt.Errorf("--param %q: write name=kind:values, e.g. lr=logUniform:1e-4:1e-1, depth=int:2:8 or opt=categorical:sgd,adam", flag)
	}
	p := mlv1.ParameterSpec{Name: name}
	switch kind {
	case "double", "float", "uniform", "logUniform", "loguniform", "int":
		p.ParameterType = mlv1.ParameterDouble
		if kind == "int" {
			p.ParameterType = mlv1.ParameterInt
		}
		if strings.EqualFold(kind, "logUniform") {
			p.FeasibleSpace.Distribution = mlv1.DistributionLogUniform
		}
		parts := strings.Split(rest, ":")
		if len(parts) != 2 && len(parts) != 3 {
			return p, fmt.Errorf("--param %q: a %s range is MIN:MAX or MIN:MAX:STEP", flag, kind)
		}
		p.FeasibleSpace.Min, p.FeasibleSpace.Max = parts[0], parts[1]
		if len(parts) == 3 {
			p.FeasibleSpace.Step = parts[2]
		}
	case "categorical", "discrete":
		p.ParameterType = mlv1.ParameterCategorical
		if kind == "discrete" {
			p.ParameterType = mlv1.ParameterDiscrete
		}
		p.FeasibleSpace.List = strings.Split(rest, ",")
	default:
		return p, fmt.Errorf("--param %q: unknown kind %q (use double, logUniform, int, categorical or discrete)", flag, kind)
	}
	return p, nil
}

var notPlaceholder = regexp.MustCompile(`[^A-Za-z0-9_]`)

// trialParameterName is a parameter's name as a template placeholder.
func trialParameterName(param string) string {
	return notPlaceholder.ReplaceAllString(param, "_")
}

// Build is the Experiment for req; scriptDir is the script's folder as an
// absolute path.
func Build(req Request, scriptDir string) (*mlv1.Experiment, error) {
	if (req.Maximize == "") == (req.Minimize == "") {
		return nil, fmt.Errorf("name the metric to optimize: --maximize NAME or --minimize NAME (one of them)")
	}
	if len(req.Params) == 0 {
		return nil, fmt.Errorf("no --param: give the search space, e.g. --param lr=logUniform:1e-4:1e-1")
	}
	obj := mlv1.ObjectiveSpec{Type: mlv1.ObjectiveMaximize, ObjectiveMetricName: req.Maximize}
	if req.Minimize != "" {
		obj = mlv1.ObjectiveSpec{Type: mlv1.ObjectiveMinimize, ObjectiveMetricName: req.Minimize}
	}
	exp := &mlv1.Experiment{
		TypeMeta:   metav1.TypeMeta{APIVersion: mlv1.GroupVersion.String(), Kind: "Experiment"},
		ObjectMeta: metav1.ObjectMeta{Name: req.Name, Namespace: req.Namespace, Labels: map[string]string{"app.kubernetes.io/created-by": "skiff-tune"}},
		Spec: mlv1.ExperimentSpec{
			Objective: obj, Algorithm: mlv1.AlgorithmSpec{AlgorithmName: req.Algorithm},
			ParallelTrialCount: req.Parallel, MaxTrialCount: &req.Trials, MaxFailedTrialCount: &req.MaxFailed,
		},
	}
	if req.Seed != "" {
		exp.Spec.Algorithm.AlgorithmSettings = []mlv1.AlgorithmSetting{{Name: "random_state", Value: req.Seed}}
	}
	if req.EarlyStopping != "" {
		exp.Spec.EarlyStopping = &mlv1.EarlyStoppingSpec{AlgorithmName: req.EarlyStopping}
	}
	args := []string{filepath.Base(req.Script)}
	for _, flag := range req.Params {
		p, err := Param(flag)
		if err != nil {
			return nil, err
		}
		exp.Spec.Parameters = append(exp.Spec.Parameters, p)
		tp := trialParameterName(p.Name)
		exp.Spec.TrialTemplate.TrialParameters = append(exp.Spec.TrialTemplate.TrialParameters, mlv1.TrialParameterSpec{Name: tp, Reference: p.Name})
		args = append(args, "--"+p.Name+"=${trialParameters."+tp+"}")
	}
	job, err := trialJob(req, scriptDir, args)
	if err != nil {
		return nil, err
	}
	exp.Spec.TrialTemplate.PrimaryContainerName = "training"
	exp.Spec.TrialTemplate.TrialSpec = runtime.RawExtension{Raw: job}
	// Kept, so the best trial's log can be read at the end.
	exp.Spec.TrialTemplate.Retain = true
	return exp, nil
}

// trialJob is the trial's Job: the script run with the trial's values,
// from its mounted folder (or from the image's working directory).
func trialJob(req Request, scriptDir string, args []string) ([]byte, error) {
	c := corev1.Container{Name: "training", Image: req.Image, Command: append([]string{req.Python}, args...)}
	pod := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{c}}
	if req.Image == "" {
		pod.Containers[0].Image = "python:3"
		pod.Containers[0].WorkingDir = scriptDir
		pod.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "code", MountPath: scriptDir, ReadOnly: true}}
		dir := corev1.HostPathDirectory
		pod.Volumes = []corev1.Volume{{Name: "code", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: scriptDir, Type: &dir}}}}
	}
	backoff := int32(0)
	job := batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		Spec:     batchv1.JobSpec{BackoffLimit: &backoff, Template: corev1.PodTemplateSpec{Spec: pod}},
	}
	return json.Marshal(job)
}
