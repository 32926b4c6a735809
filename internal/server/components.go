package server

import (
	"context"
	"errors"
	"fmt"
)

// component is a long-running part of skiff: run serves until ctx ends
// and calls ready once it serves.
type component struct {
	name string
	run  func(ctx context.Context, ready func()) error
}

// runAll runs the components side by side. ready is called once all are
// ready; the first to fail (or to return early) stops the others, and
// runAll returns when every one has returned.
func runAll(ctx context.Context, comps []component, ready func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	done := make(chan result, len(comps))
	readyc := make(chan struct{}, len(comps))
	for _, c := range comps {
		go func() {
			err := c.run(ctx, func() { readyc <- struct{}{} })
			done <- result{c.name, err}
		}()
	}
	var errs []error
	running, waiting := len(comps), len(comps)
	for running > 0 {
		select {
		case <-readyc:
			if waiting--; waiting == 0 && ready != nil {
				ready()
			}
		case r := <-done:
			running--
			if ctx.Err() == nil {
				// Ended on its own: the rest go too.
				if r.err == nil {
					r.err = errors.New("stopped unexpectedly")
				}
				cancel()
			}
			if r.err != nil && !errors.Is(r.err, context.Canceled) {
				errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
			}
		}
	}
	return errors.Join(errs...)
}
