package model

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// syntheticXGBoost builds an XGBoost JSON model of full trees (the shape
// of a depth-limited gbtree), so the benchmark needs no Python.
func syntheticXGBoost(trees, depth, features int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var all []xgbTree
	var info []int
	for range trees {
		n := 1<<(depth+1) - 1
		t := xgbTree{}
		for i := 0; i < n; i++ {
			l, r := int32(2*i+1), int32(2*i+2)
			if int(l) >= n {
				l, r = -1, -1
			}
			t.Left, t.Right = append(t.Left, l), append(t.Right, r)
			t.Feature = append(t.Feature, int32(rng.IntN(features)))
			t.Condition = append(t.Condition, xgbFloat32(rng.Float32()))
			t.DefaultLeft = append(t.DefaultLeft, rng.IntN(2))
			t.SplitType = append(t.SplitType, 0)
		}
		all = append(all, t)
		info = append(info, 0)
	}
	treesJSON, _ := json.Marshal(all)
	infoJSON, _ := json.Marshal(info)
	return fmt.Appendf(nil, `{"learner":{"feature_names":[],"learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"%d","num_target":"1"},
		"objective":{"name":"reg:squarederror"},"gradient_booster":{"name":"gbtree","model":{"tree_info":%s,"trees":%s}}},"version":[1,7,4]}`,
		features, infoJSON, treesJSON)
}

// BenchmarkXGBoost100Trees is one row through 100 depth-6 trees on 13
// features, the benchmark model.
func BenchmarkXGBoost100Trees(b *testing.B) {
	m, err := ParseXGBoost(syntheticXGBoost(100, 6, 13))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([][]float64, 64)
	for i := range rows {
		rows[i] = make([]float64, 13)
		for j := range rows[i] {
			rows[i][j] = rng.Float64()
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Predict(rows[i%len(rows)], 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkXGBoost100TreesBlock is 4096 rows at once through the same
// model (a batch run's block); ns/op is per block.
func BenchmarkXGBoost100TreesBlock(b *testing.B) {
	m, err := ParseXGBoost(syntheticXGBoost(100, 6, 13))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 4096*13)
	for i := range x {
		x[i] = rng.Float64()
	}
	for b.Loop() {
		if _, err := m.Predict(x, 4096); err != nil {
			b.Fatal(err)
		}
	}
}
