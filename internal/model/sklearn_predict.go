package model

// Predict implements Model; it answers what the estimator's predict (and a
// classifier's predict_proba) answer in scikit-learn.
func (m *Sklearn) Predict(x []float64, rows int) ([]Output, error) {
	f := m.info.Features
	if err := checkRows(x, rows, f, false); err != nil {
		return nil, err
	}
	if len(m.preprocess) > 0 {
		x = append([]float64(nil), x...) // the caller's rows stay as sent
		for _, step := range m.preprocess {
			step.apply(x, f)
		}
	}
	var raw []float64 // rows × width
	width := m.scores
	switch {
	case m.coef != nil:
		raw = m.decision(x, rows)
	case m.combine == "boosting":
		raw = m.boost(x, rows)
	default:
		raw = m.average(x, rows, width)
	}
	if m.link == "identity" {
		return []Output{{Name: "predict", Datatype: FP64, Shape: []int64{int64(rows)}, Numbers: raw}}, nil
	}
	k := m.classes
	proba := make([]float64, rows*k)
	label := make([]int, rows)
	for r := 0; r < rows; r++ {
		p := proba[r*k : (r+1)*k]
		s := raw[r*width : (r+1)*width]
		switch m.link {
		case "proba":
			copy(p, s)
		case "logistic", "exponential":
			z := s[0]
			if m.link == "exponential" {
				z *= 2
			}
			p[1] = sigmoid(z)
			p[0] = 1 - p[1]
		case "softmax":
			copy(p, s)
			softmaxInPlace(p)
		case "ovr":
			sum := 0.0
			for i := range p {
				p[i] = sigmoid(s[i])
				sum += p[i]
			}
			for i := range p {
				p[i] /= sum
			}
		}
		switch {
		case m.coef != nil && m.scores == 1:
			// LogisticRegression decides on the sign of its score.
			if s[0] > 0 {
				label[r] = 1
			}
		case m.coef != nil:
			label[r] = argmax(s)
		case m.link == "exponential":
			// Exponential-loss boosting decides on the score's sign, 0 included.
			if s[0] >= 0 {
				label[r] = 1
			}
		default:
			label[r] = argmax(p)
		}
	}
	return []Output{m.labelOutput(label), {Name: "predict_proba", Datatype: FP64, Shape: []int64{int64(rows), int64(k)}, Numbers: proba}}, nil
}

func (m *Sklearn) labelOutput(idx []int) Output {
	out := Output{Name: "predict", Datatype: m.labels.Datatype, Shape: []int64{int64(len(idx))}}
	for _, i := range idx {
		if m.labels.Datatype == BYTES {
			out.Strings = append(out.Strings, m.labels.Strings[i])
		} else {
			out.Numbers = append(out.Numbers, m.labels.Numbers[i])
		}
	}
	return out
}

// decision is X @ coef.T + intercept, in float64 as scikit-learn's linear
// models compute it.
func (m *Sklearn) decision(x []float64, rows int) []float64 {
	f := m.info.Features
	out := make([]float64, rows*m.scores)
	for r := 0; r < rows; r++ {
		row := x[r*f : (r+1)*f]
		for k := 0; k < m.scores; k++ {
			c := m.coef[k*f : (k+1)*f]
			sum := 0.0
			for j, v := range row {
				sum += v * c[j]
			}
			out[r*m.scores+k] = sum + m.intercept[k]
		}
	}
	return out
}

// leaf walks one tree the way scikit-learn does: features as float32,
// "value <= threshold" goes left.
func leaf(nodes []skNode, row []float64) int {
	j := int32(0)
	for nodes[j].left >= 0 {
		n := &nodes[j]
		if float64(float32(row[n.feature])) <= n.threshold {
			j = n.left
		} else {
			j = n.right
		}
	}
	return int(j)
}

// average is a forest's (or one tree's) prediction: each tree's leaf value
// (normalised class weights for classifiers) summed in tree order, then
// divided by the number of trees.
func (m *Sklearn) average(x []float64, rows, width int) []float64 {
	f := m.info.Features
	out := make([]float64, rows*width)
	for r := 0; r < rows; r++ {
		row := x[r*f : (r+1)*f]
		acc := out[r*width : (r+1)*width]
		for t, nodes := range m.trees {
			v := m.leaves[t][leaf(nodes, row)*width:][:width]
			norm := 1.0
			if m.link == "proba" {
				sum := 0.0
				for _, w := range v {
					sum += w
				}
				if sum != 0 {
					norm = sum
				}
			}
			for i, w := range v {
				acc[i] += w / norm
			}
		}
		for i := range acc {
			acc[i] /= float64(len(m.trees))
		}
	}
	return out
}

// boost is gradient boosting's raw score: init + learning_rate * leaf, stage
// by stage.
func (m *Sklearn) boost(x []float64, rows int) []float64 {
	f, k := m.info.Features, m.scores
	out := make([]float64, rows*k)
	for r := 0; r < rows; r++ {
		row := x[r*f : (r+1)*f]
		acc := out[r*k : (r+1)*k]
		copy(acc, m.init)
		for t, nodes := range m.trees {
			acc[t%k] += m.rate * m.leaves[t][leaf(nodes, row)]
		}
	}
	return out
}
