package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
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
			// A dart booster keeps its trees one level down, with a
			// weight per tree.
			GBTree struct {
				Model xgbTrees `json:"model"`
			} `json:"gbtree"`
			WeightDrop []float32 `json:"weight_drop"`
		} `json:"gradient_booster"`
	} `json:"learner"`
}

type xgbTrees struct {
	TreeInfo []int     `json:"tree_info"`
	Trees    []xgbTree `json:"trees"`
}

type xgbTree struct {
	Left        []int32      `json:"left_children"`
	Right       []int32      `json:"right_children"`
	Feature     []int32      `json:"split_indices"`
	Condition   []xgbFloat32 `json:"split_conditions"`
	DefaultLeft []int        `json:"default_left"`
	SplitType   []int        `json:"split_type"`
	// Categorical splits: the categories of node CatNodes[i] are
	// Categories[CatSegments[i]:][:CatSizes[i]].
	Categories  []int32 `json:"categories"`
	CatNodes    []int32 `json:"categories_nodes"`
	CatSegments []int   `json:"categories_segments"`
	CatSizes    []int   `json:"categories_sizes"`
}

// xgbNode is a tree node laid out for walking: a leaf has left < 0 and its
// value in cond.
type xgbNode struct {
	cond        float32
	feature     int32
	left, right int32
	defaultLeft bool
	categorical bool // its categories are in XGBoost.categories
}

// XGBoost is a gbtree model evaluated as XGBoost does: float32 features,
// "value < condition" goes left, a missing value follows the default
// direction, leaves summed in float32 from the base margin per class.
type XGBoost struct {
	info       Info
	objective  string
	transform  string // how a margin becomes a prediction (xgbObjectives)
	classes    int    // output groups: 1, or num_class for multi:*
	baseMargin float32
	trees      [][]xgbNode
	group      []int
	weights    []float32 // dart's per-tree weights, or nil
	// categories[tree][node] is the set a categorical split sends right
	// (kept off the node so that numerical nodes stay small).
	categories     []map[int32]map[int32]bool
	anyCategorical bool // false: the walk skips the categorical check
	// paired: every split's right child is its left child + 1 (as
	// XGBoost allocates them), so a walk can pick a child without a
	// branch on the comparison.
	paired bool
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
// evaluate exactly (the gblinear booster, multi-target trees) with an error
// that says so.
func ParseXGBoost(data []byte) (*XGBoost, error) {
	var f xgbFile
	if err := json.Unmarshal(nanAsNull(data), &f); err != nil {
		return nil, fmt.Errorf("not an XGBoost JSON model (save it with Booster.save_model(\"model.json\")): %w", err)
	}
	l := f.Learner
	ensemble, weights := l.Booster.Model, []float32(nil)
	switch l.Booster.Name {
	case "gbtree":
	case "dart":
		ensemble, weights = l.Booster.GBTree.Model, l.Booster.WeightDrop
		if len(weights) != len(ensemble.Trees) {
			return nil, fmt.Errorf("XGBoost dart model has %d tree weights for %d trees", len(weights), len(ensemble.Trees))
		}
	default:
		return nil, fmt.Errorf("XGBoost booster %q is not supported: skiff evaluates gbtree and dart models", l.Booster.Name)
	}
	obj, ok := xgbObjectives[l.Objective.Name]
	if !ok {
		return nil, fmt.Errorf("XGBoost objective %q is not supported (supported: %s)", l.Objective.Name, strings.Join(slices.Sorted(maps.Keys(xgbObjectives)), ", "))
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
	m := &XGBoost{objective: l.Objective.Name, transform: obj.transform, classes: classes, group: ensemble.TreeInfo, weights: weights}
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
	trees := ensemble.Trees
	if len(m.group) != len(trees) {
		return nil, fmt.Errorf("XGBoost model is inconsistent: %d trees but tree_info has %d entries", len(trees), len(m.group))
	}
	for i, t := range trees {
		if m.group[i] < 0 || m.group[i] >= classes {
			return nil, fmt.Errorf("XGBoost tree %d belongs to output group %d, but the model has %d", i, m.group[i], classes)
		}
		nodes, cats, err := xgbNodes(t, features)
		if err != nil {
			return nil, fmt.Errorf("XGBoost tree %d: %w", i, err)
		}
		m.trees = append(m.trees, nodes)
		m.categories = append(m.categories, cats)
		m.anyCategorical = m.anyCategorical || len(cats) > 0
	}
	m.paired = pairedChildren(m.trees)
	m.info = Info{
		Format: "xgboost", Estimator: l.Booster.Name + " " + m.objective, Features: features,
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

func xgbNodes(t xgbTree, features int) ([]xgbNode, map[int32]map[int32]bool, error) {
	n := len(t.Left)
	if n == 0 {
		return nil, nil, fmt.Errorf("no nodes")
	}
	if len(t.Right) != n || len(t.Feature) != n || len(t.Condition) != n || len(t.DefaultLeft) != n {
		return nil, nil, fmt.Errorf("node arrays differ in length")
	}
	cats, err := xgbCategories(t, n)
	if err != nil {
		return nil, nil, err
	}
	nodes := make([]xgbNode, n)
	for i := range nodes {
		l, r := t.Left[i], t.Right[i]
		if err := checkSplit(i, n, l, r, t.Feature[i], features); err != nil {
			return nil, nil, err
		}
		nodes[i] = xgbNode{cond: float32(t.Condition[i]), feature: t.Feature[i], left: l, right: r, defaultLeft: t.DefaultLeft[i] != 0}
		if i < len(t.SplitType) && t.SplitType[i] != 0 && l >= 0 {
			if cats[int32(i)] == nil {
				return nil, nil, fmt.Errorf("node %d is a categorical split without categories", i)
			}
			nodes[i].categorical = true
		}
	}
	return nodes, cats, nil
}

// xgbCategories reads the category sets of a tree's categorical splits.
func xgbCategories(t xgbTree, n int) (map[int32]map[int32]bool, error) {
	if len(t.CatNodes) != len(t.CatSegments) || len(t.CatNodes) != len(t.CatSizes) {
		return nil, fmt.Errorf("categories_nodes, categories_segments and categories_sizes differ in length")
	}
	out := map[int32]map[int32]bool{}
	for i, node := range t.CatNodes {
		seg, size := t.CatSegments[i], t.CatSizes[i]
		if node < 0 || int(node) >= n || seg < 0 || size < 0 || seg+size > len(t.Categories) {
			return nil, fmt.Errorf("categorical split %d (node %d) points outside the categories", i, node)
		}
		set := make(map[int32]bool, size)
		for _, c := range t.Categories[seg : seg+size] {
			set[c] = true
		}
		out[node] = set
	}
	return out, nil
}

// xgbFloat32 reads a number, or null (a NaN in the file, see nanAsNull).
type xgbFloat32 float32

func (f *xgbFloat32) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = xgbFloat32(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 32)
	*f = xgbFloat32(v)
	return err
}

// nanAsNull rewrites the bare NaN tokens XGBoost writes (the conditions of
// categorical splits) as null, outside strings, so encoding/json reads them.
func nanAsNull(data []byte) []byte {
	if !bytes.Contains(data, []byte("NaN")) {
		return data
	}
	out := make([]byte, 0, len(data)+64)
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString && c == '\\' && i+1 < len(data):
			out = append(out, c, data[i+1])
			i++
			continue
		case c == '"':
			inString = !inString
		case !inString && c == 'N' && bytes.HasPrefix(data[i:], []byte("NaN")):
			out = append(out, "null"...)
			i += 2
			continue
		}
		out = append(out, c)
	}
	return out
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
	m.blockMargins(x, rows, margins)
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
		out.Numbers = make([]float64, rows)
		for r, v := range margins {
			switch m.transform {
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

// blockRows is how many rows go through each tree before the next tree:
// one tree's nodes stay in cache for the block.
const blockRows = 64

// blockMargins adds every tree's leaf for each row to its group's margin,
// trees in order for each row (so the float32 sums are XGBoost's), a
// block of rows at a time.
func (m *XGBoost) blockMargins(x []float64, rows int, margins []float32) {
	f, classes := m.info.Features, m.classes
	for k := range margins {
		margins[k] = m.baseMargin
	}
	fx := make([]float32, min(blockRows, rows)*f)
	for r0 := 0; r0 < rows; r0 += blockRows {
		n := min(blockRows, rows-r0)
		for k, v := range x[r0*f : (r0+n)*f] {
			fx[k] = float32(v)
		}
		out := margins[r0*classes : (r0+n)*classes]
		fast := m.paired && !m.anyCategorical && m.weights == nil
		for i, nodes := range m.trees {
			g := m.group[i]
			r := 0
			if fast {
				// Four walks at once: their loads and compares overlap.
				for ; r+4 <= n; r += 4 {
					a, b, c, d := leavesPaired4(nodes, fx[r*f:(r+1)*f], fx[(r+1)*f:(r+2)*f], fx[(r+2)*f:(r+3)*f], fx[(r+3)*f:(r+4)*f])
					out[r*classes+g] += a
					out[(r+1)*classes+g] += b
					out[(r+2)*classes+g] += c
					out[(r+3)*classes+g] += d
				}
			}
			for ; r < n; r++ {
				leaf := m.leaf(i, nodes, fx[r*f:(r+1)*f])
				if m.weights != nil {
					// dart: each tree's output times its weight, rounded to
					// float32 as XGBoost computes it.
					out[r*classes+g] += float32(leaf * m.weights[i])
					continue
				}
				out[r*classes+g] += leaf
			}
		}
	}
}

// pairedChildren says every split's right child follows its left one.
func pairedChildren(trees [][]xgbNode) bool {
	for _, nodes := range trees {
		for _, n := range nodes {
			if n.left >= 0 && n.right != n.left+1 {
				return false
			}
		}
	}
	return true
}

// leafPaired is leaf for numerical splits with paired children: the
// child is left + (not value < condition), a missing value its default.
func leafPaired(nodes []xgbNode, row []float32) float32 {
	j := int32(0)
	for {
		n := &nodes[j]
		if n.left < 0 {
			return n.cond
		}
		fv := row[n.feature]
		var right int32
		if !(fv < n.cond) {
			right = 1
		}
		if fv != fv && n.defaultLeft { // NaN: the default direction
			right = 0
		}
		j = n.left + right
	}
}

// leavesPaired4 is leafPaired for four rows, walked together.
func leavesPaired4(nodes []xgbNode, r0, r1, r2, r3 []float32) (float32, float32, float32, float32) {
	j0, j1, j2, j3 := int32(0), int32(0), int32(0), int32(0)
	for {
		n0, n1, n2, n3 := &nodes[j0], &nodes[j1], &nodes[j2], &nodes[j3]
		if n0.left < 0 && n1.left < 0 && n2.left < 0 && n3.left < 0 {
			return n0.cond, n1.cond, n2.cond, n3.cond
		}
		j0, j1, j2, j3 = stepPaired(n0, j0, r0), stepPaired(n1, j1, r1), stepPaired(n2, j2, r2), stepPaired(n3, j3, r3)
	}
}

// stepPaired is one level of a walk: the child of node j (n) for row, or
// j itself at a leaf.
func stepPaired(n *xgbNode, j int32, row []float32) int32 {
	if n.left < 0 {
		return j
	}
	fv := row[n.feature]
	var right int32
	if !(fv < n.cond) {
		right = 1
	}
	if fv != fv && n.defaultLeft {
		right = 0
	}
	return n.left + right
}

// leaf is the value of the leaf tree i gives row.
func (m *XGBoost) leaf(i int, nodes []xgbNode, row []float32) float32 {
	if m.paired && !m.anyCategorical {
		return leafPaired(nodes, row)
	}
	j := int32(0)
	for nodes[j].left >= 0 {
		n := &nodes[j]
		fv := row[n.feature]
		// Numerical splits first: they are the hot path. A NaN fails
		// both comparisons and takes the default direction.
		switch {
		case m.anyCategorical && n.categorical:
			j = m.categoryChild(i, j, fv)
		case fv < n.cond:
			j = n.left
		case fv >= n.cond:
			j = n.right
		case n.defaultLeft:
			j = n.left
		default:
			j = n.right
		}
	}
	return nodes[j].cond
}

// categoryChild follows a categorical split as XGBoost does: a missing
// value takes the default direction, a listed category goes right, any
// other value (unseen, negative, beyond float32's integers) goes left.
func (m *XGBoost) categoryChild(tree int, node int32, v float32) int32 {
	n := &m.trees[tree][node]
	switch {
	case v != v: // NaN
		if n.defaultLeft {
			return n.left
		}
		return n.right
	case v >= 0 && v < 1<<24 && m.categories[tree][node][int32(v)]:
		return n.right
	}
	return n.left
}
