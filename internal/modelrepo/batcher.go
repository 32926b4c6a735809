package modelrepo

import (
	"sync"
	"time"

	"github.com/skiff-dev/skiff/internal/model"
)

// batcher lets concurrent requests share one evaluation. It has no
// goroutine of its own: the first request of a batch leads it, so a
// swapped-out version needs no stopping. A leader waits only while another
// batch is running (then requests are arriving faster than the model
// answers), at most maxDelay, and stops waiting when the batch is full or
// the running batch ends.
type batcher struct {
	max      int
	delay    time.Duration
	run      func(x []float64, rows int) ([]model.Output, error)
	observed func(rows int)

	mu      sync.Mutex
	pending *batch
	running int
	freed   chan struct{} // closed when a running batch ends
}

type batch struct {
	x    []float64
	rows int
	full chan struct{}
	done chan struct{}
	outs []model.Output
	err  error
}

func newBatcher(max int, delay time.Duration, run func([]float64, int) ([]model.Output, error), observed func(int)) *batcher {
	return &batcher{max: max, delay: delay, run: run, observed: observed, freed: make(chan struct{})}
}

func (b *batcher) predict(x []float64, rows int) ([]model.Output, error) {
	if rows >= b.max {
		b.observed(rows)
		return b.run(x, rows)
	}
	b.mu.Lock()
	cur := b.pending
	if cur != nil && cur.rows+rows > b.max {
		b.seal(cur)
		cur = nil
	}
	leader := cur == nil
	if leader {
		cur = &batch{full: make(chan struct{}), done: make(chan struct{})}
		b.pending = cur
	}
	offset := cur.rows
	cur.x = append(cur.x, x...)
	cur.rows += rows
	if cur.rows >= b.max {
		b.seal(cur)
	}
	busy, freed := b.running > 0, b.freed
	b.mu.Unlock()

	if !leader {
		<-cur.done
		return slice(cur.outs, offset, rows), cur.err
	}
	if busy && b.delay > 0 {
		timer := time.NewTimer(b.delay)
		select {
		case <-cur.full:
		case <-freed:
		case <-timer.C:
		}
		timer.Stop()
	}
	b.mu.Lock()
	if b.pending == cur {
		b.pending = nil
	}
	b.running++
	b.mu.Unlock()

	b.observed(cur.rows)
	cur.outs, cur.err = b.run(cur.x, cur.rows)

	b.mu.Lock()
	b.running--
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
	close(cur.done)
	return slice(cur.outs, offset, rows), cur.err
}

// seal closes a batch to newcomers; the caller holds mu.
func (b *batcher) seal(cur *batch) {
	if b.pending == cur {
		b.pending = nil
		close(cur.full)
	}
}

// slice cuts one request's rows out of a batch's outputs.
func slice(outs []model.Output, offset, rows int) []model.Output {
	if outs == nil {
		return nil
	}
	res := make([]model.Output, len(outs))
	for i, o := range outs {
		total := int(o.Shape[0])
		o.Shape = append([]int64{int64(rows)}, o.Shape[1:]...)
		if o.Strings != nil {
			per := len(o.Strings) / total
			o.Strings = o.Strings[offset*per : (offset+rows)*per]
		}
		if o.Numbers != nil {
			per := len(o.Numbers) / total
			o.Numbers = o.Numbers[offset*per : (offset+rows)*per]
		}
		res[i] = o
	}
	return res
}
