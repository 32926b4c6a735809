package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// SklearnFormat and SklearnFormatVersion name the JSON export format that
// skiff's exporter writes (docs/model-format.md). A reader refuses other
// versions instead of guessing.
const (
	SklearnFormat        = "skiff-sklearn"
	SklearnFormatVersion = 1
)

type sklearnFile struct {
	Format         string            `json:"format"`
	FormatVersion  int               `json:"format_version"`
	Estimator      string            `json:"estimator"`
	Features       int               `json:"n_features"`
	FeatureNames   []string          `json:"feature_names"`
	Classes        []json.RawMessage `json:"classes"`
	Link           string            `json:"link"`
	Preprocess     []sklearnStep     `json:"preprocess"`
	Linear         *sklearnLinear    `json:"linear"`
	Ensemble       *sklearnEnsemble  `json:"ensemble"`
	SklearnVersion string            `json:"sklearn_version"`
}

type sklearnLinear struct {
	Coef      [][]float64 `json:"coef"`
	Intercept []float64   `json:"intercept"`
}

type sklearnEnsemble struct {
	// Combine is "average" (forests, single trees) or "boosting" (init +
	// learning_rate * sum of the stages' trees).
	Combine      string          `json:"combine"`
	LearningRate float64         `json:"learning_rate"`
	Init         []float64       `json:"init"`
	Stages       [][]sklearnTree `json:"stages"`
}

type sklearnTree struct {
	Left      []int32     `json:"left"`
	Right     []int32     `json:"right"`
	Feature   []int32     `json:"feature"`
	Threshold []float64   `json:"threshold"`
	Value     [][]float64 `json:"value"`
}

// Links: how raw scores become predictions.
var sklearnLinks = map[string]bool{
	"identity":    true, // regression
	"proba":       true, // tree classifiers: class weights normalised
	"logistic":    true, // binary: one score, sigmoid
	"exponential": true, // binary gradient boosting with exponential loss: sigmoid(2 score)
	"softmax":     true, // multinomial
	"ovr":         true, // one sigmoid per class, normalised
}

// Sklearn is an exported scikit-learn estimator: a linear model or a tree
// ensemble.
type Sklearn struct {
	info    Info
	link    string
	scores  int    // raw scores per row
	classes int    // 0 for regressors
	labels  Output // the class labels, Numbers or Strings

	preprocess []sklearnStep

	coef      []float64 // scores × features
	intercept []float64

	combine string
	rate    float64
	init    []float64
	trees   [][]skNode // stage-major, scores trees per stage for boosting
	leaves  [][]float64
}

type skNode struct {
	threshold   float64
	feature     int32
	left, right int32
}

// ParseSklearn reads skiff's scikit-learn export format.
func ParseSklearn(data []byte) (*Sklearn, error) {
	var f sklearnFile
	dec := json.NewDecoder(bytes.NewReader(data))
	// A key this reader does not know could change predictions: refuse it
	// rather than ignore it.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a skiff scikit-learn export this skiff reads (write one with 'skiff export-sklearn'): %w", err)
	}
	if f.Format != SklearnFormat {
		return nil, fmt.Errorf("format is %q, want %q (write one with 'skiff export-sklearn')", f.Format, SklearnFormat)
	}
	if f.FormatVersion != SklearnFormatVersion {
		return nil, fmt.Errorf("%s format_version %d is not supported by this skiff (it reads version %d)", SklearnFormat, f.FormatVersion, SklearnFormatVersion)
	}
	if f.Features <= 0 {
		return nil, fmt.Errorf("n_features %d: want at least 1", f.Features)
	}
	if len(f.FeatureNames) != 0 && len(f.FeatureNames) != f.Features {
		return nil, fmt.Errorf("feature_names has %d names for %d features", len(f.FeatureNames), f.Features)
	}
	if !sklearnLinks[f.Link] {
		return nil, fmt.Errorf("link %q is not one of identity, proba, logistic, exponential, softmax, ovr", f.Link)
	}
	m := &Sklearn{link: f.Link, classes: len(f.Classes), preprocess: f.Preprocess}
	for i, step := range f.Preprocess {
		if err := step.check(f.Features); err != nil {
			return nil, fmt.Errorf("preprocess step %d (%s): %w", i, step.Kind, err)
		}
	}
	classifier := f.Link != "identity"
	oneScore := f.Link == "identity" || f.Link == "logistic" || f.Link == "exponential"
	switch {
	case !classifier && len(f.Classes) != 0:
		return nil, fmt.Errorf("a regressor (link identity) has no classes")
	case classifier && len(f.Classes) < 2:
		return nil, fmt.Errorf("a classifier needs at least 2 classes, got %d", len(f.Classes))
	case classifier && oneScore && len(f.Classes) != 2:
		return nil, fmt.Errorf("link %s is binary but the model has %d classes", f.Link, len(f.Classes))
	}
	// Raw scores per row: one for regression and binary links, else one
	// per class (class weights for proba).
	m.scores = len(f.Classes)
	if oneScore {
		m.scores = 1
	}
	switch {
	case f.Linear != nil && f.Ensemble == nil:
		if err := m.setLinear(f.Linear, f.Features); err != nil {
			return nil, err
		}
	case f.Ensemble != nil && f.Linear == nil:
		if err := m.setEnsemble(f.Ensemble, f.Features); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("the export must hold exactly one of \"linear\" and \"ensemble\"")
	}
	m.info = Info{Format: "sklearn", Estimator: f.Estimator, Features: f.Features, FeatureNames: f.FeatureNames}
	if !classifier {
		m.info.Outputs = []OutputInfo{{Name: "predict", Datatype: FP64, Shape: []int64{-1}}}
		return m, nil
	}
	labels, err := classLabels(f.Classes)
	if err != nil {
		return nil, err
	}
	m.labels = labels
	m.info.Outputs = []OutputInfo{
		{Name: "predict", Datatype: labels.Datatype, Shape: []int64{-1}},
		{Name: "predict_proba", Datatype: FP64, Shape: []int64{-1, int64(len(f.Classes))}},
	}
	return m, nil
}

// classLabels keeps the classes as sklearn had them: integers, floats or
// strings.
func classLabels(raw []json.RawMessage) (Output, error) {
	out := Output{Datatype: INT64}
	for i, c := range raw {
		var s string
		if json.Unmarshal(c, &s) == nil {
			out.Strings = append(out.Strings, s)
			continue
		}
		f, err := strconv.ParseFloat(string(c), 64)
		if err != nil {
			return Output{}, fmt.Errorf("class %d (%s) is neither a number nor a string", i, c)
		}
		if f != math.Trunc(f) {
			out.Datatype = FP64
		}
		out.Numbers = append(out.Numbers, f)
	}
	switch {
	case len(out.Strings) == len(raw):
		out.Datatype = BYTES
	case len(out.Strings) != 0:
		return Output{}, fmt.Errorf("classes mix strings and numbers")
	}
	return out, nil
}

func (m *Sklearn) setLinear(l *sklearnLinear, features int) error {
	if len(l.Coef) != m.scores || len(l.Intercept) != m.scores {
		return fmt.Errorf("linear model has %d coefficient rows and %d intercepts; want %d of each", len(l.Coef), len(l.Intercept), m.scores)
	}
	for i, row := range l.Coef {
		if len(row) != features {
			return fmt.Errorf("linear coefficient row %d has %d values for %d features", i, len(row), features)
		}
		m.coef = append(m.coef, row...)
	}
	m.intercept = l.Intercept
	if m.link == "proba" {
		return fmt.Errorf("link proba is for trees; a linear classifier uses logistic, softmax or ovr")
	}
	return nil
}

func (m *Sklearn) setEnsemble(e *sklearnEnsemble, features int) error {
	m.combine, m.rate = e.Combine, e.LearningRate
	if len(e.Stages) == 0 {
		return fmt.Errorf("ensemble has no trees")
	}
	width := m.scores // values a leaf holds
	perStage := 1
	switch e.Combine {
	case "average":
		if m.link != "proba" && m.link != "identity" {
			return fmt.Errorf("an averaged ensemble uses link proba or identity, not %s", m.link)
		}
	case "boosting":
		if m.link == "proba" {
			return fmt.Errorf("a boosted ensemble's link is identity, logistic, exponential or softmax, not proba")
		}
		width, perStage = 1, m.scores
		if len(e.Init) != m.scores {
			return fmt.Errorf("boosting init has %d values; want %d", len(e.Init), m.scores)
		}
		m.init = e.Init
	default:
		return fmt.Errorf("ensemble combine %q is not average or boosting", e.Combine)
	}
	for s, stage := range e.Stages {
		if len(stage) != perStage {
			return fmt.Errorf("stage %d has %d trees; want %d", s, len(stage), perStage)
		}
		for k, t := range stage {
			nodes, leaves, err := skTree(t, features, width)
			if err != nil {
				return fmt.Errorf("stage %d tree %d: %w", s, k, err)
			}
			m.trees = append(m.trees, nodes)
			m.leaves = append(m.leaves, leaves)
		}
	}
	return nil
}

// skTree checks a tree and keeps each node's value row (leaves' are read).
func skTree(t sklearnTree, features, width int) ([]skNode, []float64, error) {
	n := len(t.Left)
	if n == 0 {
		return nil, nil, fmt.Errorf("no nodes")
	}
	if len(t.Right) != n || len(t.Feature) != n || len(t.Threshold) != n || len(t.Value) != n {
		return nil, nil, fmt.Errorf("node arrays differ in length")
	}
	nodes := make([]skNode, n)
	values := make([]float64, 0, n*width)
	for i := range nodes {
		l, r := t.Left[i], t.Right[i]
		if err := checkSplit(i, n, l, r, t.Feature[i], features); err != nil {
			return nil, nil, err
		}
		if len(t.Value[i]) != width {
			return nil, nil, fmt.Errorf("node %d holds %d values; want %d", i, len(t.Value[i]), width)
		}
		nodes[i] = skNode{threshold: t.Threshold[i], feature: t.Feature[i], left: l, right: r}
		values = append(values, t.Value[i]...)
	}
	return nodes, values, nil
}

// Info implements Model.
func (m *Sklearn) Info() Info { return m.info }
