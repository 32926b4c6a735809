package modelrepo

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiff-dev/skiff/internal/model"
)

// rowSums answers each row's sum and takes a while, so that requests pile
// up behind it as they do behind a busy model.
func rowSums(x []float64, rows int) ([]model.Output, error) {
	time.Sleep(2 * time.Millisecond)
	out := model.Output{Name: "predict", Datatype: model.FP64, Shape: []int64{int64(rows)}}
	f := len(x) / rows
	for r := 0; r < rows; r++ {
		s := 0.0
		for _, v := range x[r*f : (r+1)*f] {
			s += v
		}
		out.Numbers = append(out.Numbers, s)
	}
	return []model.Output{out}, nil
}

func TestBatcherFormsBatchesAndSplitsThem(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	b := newBatcher(8, 20*time.Millisecond, rowSums, func(rows int) {
		mu.Lock()
		sizes = append(sizes, rows)
		mu.Unlock()
	})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				rows := 1 + (c+i)%3
				x := make([]float64, rows*2)
				var want []float64
				for r := 0; r < rows; r++ {
					x[2*r], x[2*r+1] = float64(c), float64(i*10+r)
					want = append(want, float64(c+i*10+r))
				}
				outs, err := b.predict(x, rows)
				if err != nil {
					errs <- err.Error()
					return
				}
				if d := cmp.Diff(want, outs[0].Numbers); d != "" || outs[0].Shape[0] != int64(rows) {
					errs <- d
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("a request got another's answer (-want +got):\n%s", e)
	}
	biggest, total := 0, 0
	for _, s := range sizes {
		biggest = max(biggest, s)
		total += s
		if s > 8 {
			t.Fatalf("a batch of %d rows exceeds maxBatchSize 8", s)
		}
	}
	if biggest < 2 {
		t.Fatalf("16 concurrent clients never shared a batch: sizes %v", sizes)
	}
	want := 0
	for c := 0; c < 16; c++ {
		for i := 0; i < 10; i++ {
			want += 1 + (c+i)%3
		}
	}
	if total != want {
		t.Fatalf("batches held %d rows, want %d", total, want)
	}
}

func TestBatcherLoneRequestDoesNotWait(t *testing.T) {
	b := newBatcher(8, time.Second, func(x []float64, rows int) ([]model.Output, error) {
		return []model.Output{{Name: "p", Shape: []int64{int64(rows)}, Numbers: x}}, nil
	}, func(int) {})
	start := time.Now()
	if _, err := b.predict([]float64{1}, 1); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a lone request waited %v for a batch (maxDelay 1s)", d)
	}
}
