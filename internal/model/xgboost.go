package model

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// XGBoost's JSON model (Booster.save_model("model.json")), the parts that
// prediction needs. Numbers in learner_model_param are strings there.
type xgbFile struct {
	Version []int `json:"version"`
	Learner struct {
		FeatureNames []string `json:"feature_names"`
		Param        struct {
			BaseScore string `json:"base_score"`
			NumClass  string `json:"num_class"`
			NumFeat   string `json:"num_feature"`
			NumTarget string `json:"num_target"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
		Booster struct {
			Name  string   `json:"name"`
			Model xgbTrees `json:"model"`
		} `json:"gradient_booster"`
	} `json:"learner"`
}

type xgbTrees struct {
	TreeInfo []int     `json:"tree_info"`
	Trees    []xgbTree `json:"trees"`
}

type xgbTree struct {
	Left        []int32   `json:"left_children"`
	Right       []int32   `json:"right_children"`
	Feature     []int32   `json:"split_indices"`
	Condition   []float32 `json:"split_conditions"`
	DefaultLeft []int     `json:"default_left"`
	SplitType   []int     `json:"split_type"`
}

// xgbNode is a tree node laid out for walking: a leaf has left < 0 and its
// value in cond.
type xgbNode struct {
	cond        float32
	feature     int32
	left, right int32
	defaultLeft bool
}

// XGBoost is a gbtree model evaluated as XGBoost does: float32 features,
// "value < condition" goes left, a missing value follows the default
// direction, leaves summed in float32 from the base margin per class.
type XGBoost struct {
	info       Info
	objective  string
	classes    int // output groups: 1, or num_class for multi:*
	baseMargin float32
	trees      [][]xgbNode
	group      []int
}

// xgbObjectives maps each supported objective to how base_score becomes a
// margin and the margin a prediction.
var xgbObjectives = map[string]struct{ toMargin, transform string }{
	"reg:squarederror":     {"identity", "identity"},
	"reg:squaredlogerror":  {"identity", "identity"},
	"reg:pseudohubererror": {"identity", "identity"},
	"reg:absoluteerror":    {"identity", "identity"},
	"reg:logistic":         {"logit", "sigmoid"},
	"binary:logistic":      {"logit", "sigmoid"},
	"binary:logitraw":      {"identity", "identity"}, // base_score is already a margin
	"count:poisson":        {"log", "exp"},
	"reg:gamma":            {"log", "exp"},
	"reg:tweedie":          {"log", "exp"},
	"multi:softprob":       {"identity", "softprob"},
	"multi:softmax":        {"identity", "softmax"},
}

// ParseXGBoost reads an XGBoost JSON model. It refuses what it cannot
// evaluate exactly (other boosters, categorical splits, multi-target trees)
// with an error that says so.
func ParseXGBoost(data []byte) (*XGBoost, error) {
	var f xgbFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not an XGBoost JSON model (save it with Booster.save_model(\"model.json\")): %w", err)
	}
	l := f.Learner
	if l.Booster.Name != "gbtree" {
		return nil, fmt.Errorf("XGBoost booster %q is not supported: skiff evaluates gbtree models", l.Booster.Name)
	}
	obj, ok := xgbObjectives[l.Objective.Name]
	if !ok {
		return nil, fmt.Errorf("XGBoost objective %q is not supported (supported: %s)", l.Objective.Name, strings.Join(sortedKeys(xgbObjectives), ", "))
	}
	features, err := xgbInt("num_feature", l.Param.NumFeat, 0)
	if err != nil {
		return nil, err
	}
	if features <= 0 {
		return nil, fmt.Errorf("XGBoost model has num_feature %d: want at least 1", features)
	}
	if t, err := xgbInt("num_target", l.Param.NumTarget, 1); err != nil || t > 1 {
		return nil, fmt.Errorf("XGBoost multi-target models are not supported (num_target %q)", l.Param.NumTarget)
	}
	numClass, err := xgbInt("num_class", l.Param.NumClass, 0)
	if err != nil {
		return nil, err
	}
	classes := 1
	if strings.HasPrefix(l.Objective.Name, "multi:") {
		if numClass < 2 {
			return nil, fmt.Errorf("XGBoost %s model has num_class %d: want at least 2", l.Objective.Name, numClass)
		}
		classes = numClass
	}
	base, err := xgbBaseScore(l.Param.BaseScore)
	if err != nil {
		return nil, err
	}
	m := &XGBoost{objective: l.Objective.Name, classes: classes, group: l.Booster.Model.TreeInfo}
	switch obj.toMargin {
	case "logit":
		if base <= 0 || base >= 1 {
			return nil, fmt.Errorf("XGBoost base_score %v must lie in (0, 1) for %s", base, m.objective)
		}
		m.baseMargin = float32(-math.Log(1/float64(base) - 1))
	case "log":
		if base <= 0 {
			return nil, fmt.Errorf("XGBoost base_score %v must be positive for %s", base, m.objective)
		}
		m.baseMargin = float32(math.Log(float64(base)))
	default:
		m.baseMargin = base
	}
	trees := l.Booster.Model.Trees
	if len(m.group) != len(trees) {
		return nil, fmt.Errorf("XGBoost model is inconsistent: %d trees but tree_info has %d entries", len(trees), len(m.group))
	}
	for i, t := range trees {
		if m.group[i] < 0 || m.group[i] >= classes {
			return nil, fmt.Errorf("XGBoost tree %d belongs to output group %d, but the model has %d", i, m.group[i], classes)
		}
		nodes, err := xgbNodes(t, features)
		if err != nil {
			return nil, fmt.Errorf("XGBoost tree %d: %w", i, err)
		}
		m.trees = append(m.trees, nodes)
	}
	m.info = Info{
		Format: "xgboost", Estimator: "gbtree " + m.objective, Features: features,
		FeatureNames: l.FeatureNames, AllowsMissing: true,
		Outputs: []OutputInfo{{Name: "predict", Datatype: FP32, Shape: []int64{-1}}},
	}
	if m.objective == "multi:softprob" {
		m.info.Outputs[0].Shape = []int64{-1, int64(classes)}
	}
	if len(m.info.FeatureNames) != 0 && len(m.info.FeatureNames) != features {
		return nil, fmt.Errorf("XGBoost model names %d features but has %d", len(m.info.FeatureNames), features)
	}
	return m, nil
}

func xgbNodes(t xgbTree, features int) ([]xgbNode, error) {
	n := len(t.Left)
	if n == 0 {
		return nil, fmt.Errorf("no nodes")
	}
	if len(t.Right) != n || len(t.Feature) != n || len(t.Condition) != n || len(t.DefaultLeft) != n {
		return nil, fmt.Errorf("node arrays differ in length")
	}
	nodes := make([]xgbNode, n)
	for i := range nodes {
		if i < len(t.SplitType) && t.SplitType[i] != 0 {
			return nil, fmt.Errorf("node %d is a categorical split, which skiff does not evaluate yet", i)
		}
		l, r := t.Left[i], t.Right[i]
		if l >= 0 {
			// Children always come after their parent, which also rules out cycles.
			if int(l) <= i || int(l) >= n || int(r) <= i || int(r) >= n {
				return nil, fmt.Errorf("node %d has children %d and %d outside the tree", i, l, r)
			}
			if t.Feature[i] < 0 || int(t.Feature[i]) >= features {
				return nil, fmt.Errorf("node %d splits on feature %d, but the model has %d", i, t.Feature[i], features)
			}
		}
		nodes[i] = xgbNode{cond: t.Condition[i], feature: t.Feature[i], left: l, right: r, defaultLeft: t.DefaultLeft[i] != 0}
	}
	return nodes, nil
}

func xgbInt(name, s string, empty int) (int, error) {
	if s == "" {
		return empty, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("XGBoost learner_model_param %s %q is not an integer", name, s)
	}
	return v, nil
}

// xgbBaseScore reads "5E-1", or "[5E-1]" as XGBoost 2 writes it.
func xgbBaseScore(s string) (float32, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if s == "" {
		return 0.5, nil
	}
	v, err := strconv.ParseFloat(s, 32)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("XGBoost base_score %q is not a finite number", s)
	}
	return float32(v), nil
}

// Info implements Model.
func (m *XGBoost) Info() Info { return m.info }

// Predict implements Model; it answers what Booster.predict answers.
func (m *XGBoost) Predict(x []float64, rows int) ([]Output, error) {
	f := m.info.Features
	if err := checkRows(x, rows, f, true); err != nil {
		return nil, err
	}
	margins := make([]float32, rows*m.classes)
	for r := 0; r < rows; r++ {
		m.margins(x[r*f:(r+1)*f], margins[r*m.classes:(r+1)*m.classes])
	}
	out := Output{Name: "predict", Datatype: FP32, Shape: []int64{int64(rows)}}
	switch m.objective {
	case "multi:softprob":
		out.Shape = []int64{int64(rows), int64(m.classes)}
		out.Numbers = make([]float64, len(margins))
		for r := 0; r < rows; r++ {
			p := out.Numbers[r*m.classes : (r+1)*m.classes]
			for k := range p {
				p[k] = float64(margins[r*m.classes+k])
			}
			softmaxInPlace(p)
			for k := range p {
				p[k] = float64(float32(p[k]))
			}
		}
	case "multi:softmax":
		out.Numbers = make([]float64, rows)
		for r := range out.Numbers {
			best := 0
			row := margins[r*m.classes : (r+1)*m.classes]
			for k := range row {
				if row[k] > row[best] {
					best = k
				}
			}
			out.Numbers[r] = float64(best)
		}
	default:
		transform := xgbObjectives[m.objective].transform
		out.Numbers = make([]float64, rows)
		for r, v := range margins {
			switch transform {
			case "sigmoid":
				out.Numbers[r] = float64(float32(sigmoid(float64(v))))
			case "exp":
				out.Numbers[r] = float64(float32(math.Exp(float64(v))))
			default:
				out.Numbers[r] = float64(v)
			}
		}
	}
	return []Output{out}, nil
}

// margins adds every tree's leaf for one row to its group's margin.
func (m *XGBoost) margins(row []float64, out []float32) {
	for k := range out {
		out[k] = m.baseMargin
	}
	for i, nodes := range m.trees {
		j := int32(0)
		for nodes[j].left >= 0 {
			n := &nodes[j]
			v := row[n.feature]
			switch {
			case math.IsNaN(v):
				if n.defaultLeft {
					j = n.left
				} else {
					j = n.right
				}
			case float32(v) < n.cond:
				j = n.left
			default:
				j = n.right
			}
		}
		out[m.group[i]] += nodes[j].cond
	}
}
