// Package stage runs skiff's long-running parts (the control plane, the
// cluster services, the node, and later the ML controllers and gateway) as
// an ordered list: each starts once the one before it is ready, the first
// to fail stops them all, and they stop in reverse order, so that what
// started first (etcd) stops last. Every stage's start, readiness and stop
// are logged with their times through the context's logr.Logger.
package stage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Stage is one long-running part. Run serves until ctx ends, calls ready
// once it serves (at most once counts), and returns what went wrong, if
// anything. A Run that returns before ctx ends has failed, even with nil.
type Stage struct {
	Name string
	Run  func(ctx context.Context, ready func()) error
	// StopTimeout bounds the wait for Run to return once its context
	// ends; zero waits as long as it takes.
	StopTimeout time.Duration
}

// Serve is a stage that is ready as soon as it starts: run serves until
// ctx ends.
func Serve(name string, run func(ctx context.Context) error) Stage {
	return Stage{Name: name, Run: func(ctx context.Context, ready func()) error {
		ready()
		return run(ctx)
	}}
}

// Group is a stage made of stages run as Run runs them: it is ready once
// the last of them is.
func Group(name string, stages ...Stage) Stage {
	return Stage{Name: name, Run: func(ctx context.Context, ready func()) error {
		return Run(ctx, ready, stages...)
	}}
}

// Run starts stages in order, each once the one before it is ready, and
// calls ready (if not nil) once all are. It returns when ctx ends or when
// a stage fails or ends on its own, after stopping every started stage in
// reverse order. The error names the stage that failed first, and any
// that failed to stop; a stage that returns context.Canceled once stopped
// has stopped cleanly.
func Run(ctx context.Context, ready func(), stages ...Stage) error {
	log := logr.FromContextOrDiscard(ctx)
	// Big enough that no stage ever blocks telling it ended.
	exited := make(chan *run, len(stages))
	var runs []*run
	var failure error
	allReady := true
	for _, s := range stages {
		r := start(ctx, log, s, exited)
		runs = append(runs, r)
		ok, err := r.awaitReady(ctx, exited)
		if err != nil || !ok {
			failure, allReady = err, false
			break
		}
	}
	if allReady {
		if ready != nil {
			ready()
		}
		select {
		case <-ctx.Done():
		case r := <-exited:
			failure = r.endedEarly()
		}
	}
	return errors.Join(failure, stopAll(runs))
}

// run is a started stage.
type run struct {
	Stage
	log     logr.Logger
	cancel  context.CancelFunc
	ready   chan struct{}
	done    chan struct{} // closed once Run returned; err is set then
	err     error
	started time.Time
	// reported is set once the stage's early end has become Run's error,
	// so that stopping does not report it again.
	reported bool
}

func start(ctx context.Context, log logr.Logger, s Stage, exited chan<- *run) *run {
	log = log.WithName(s.Name)
	// Detached from ctx, so that the stages stop one at a time, last
	// first, rather than all at once when ctx ends.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sctx = logr.NewContext(sctx, log)
	r := &run{Stage: s, log: log, cancel: cancel, ready: make(chan struct{}), done: make(chan struct{}), started: time.Now()}
	log.Info("stage starting")
	var once sync.Once
	go func() {
		r.err = s.Run(sctx, func() { once.Do(func() { close(r.ready) }) })
		close(r.done)
		exited <- r
	}()
	return r
}

// awaitReady waits until r is ready (true), ctx ends (false), or any
// started stage ends (its error).
func (r *run) awaitReady(ctx context.Context, exited <-chan *run) (bool, error) {
	select {
	case <-r.ready:
		r.log.Info("stage ready", "after", time.Since(r.started))
		return true, nil
	case <-ctx.Done():
		return false, nil
	case ended := <-exited:
		return false, ended.endedEarly()
	}
}

// endedEarly is the error of a stage that returned before it was stopped.
func (r *run) endedEarly() error {
	r.reported = true
	if r.err == nil {
		return fmt.Errorf("%s stopped on its own", r.Name)
	}
	return fmt.Errorf("%s: %w", r.Name, r.err)
}

// stopAll stops runs last first and reports those that did not stop
// cleanly.
func stopAll(runs []*run) error {
	var errs []error
	for i := len(runs) - 1; i >= 0; i-- {
		if err := runs[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *run) stop() error {
	asked := time.Now()
	r.cancel()
	var timeout <-chan time.Time
	if r.StopTimeout > 0 {
		t := time.NewTimer(r.StopTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-r.done:
	case <-timeout:
		r.log.Info("stage did not stop in time", "timeout", r.StopTimeout)
		return fmt.Errorf("%s did not stop within %s", r.Name, r.StopTimeout)
	}
	r.log.Info("stage stopped", "ran", time.Since(r.started), "stopping took", time.Since(asked))
	if r.reported || r.err == nil || errors.Is(r.err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("%s: stopping: %w", r.Name, r.err)
}
