// Package server runs skiff in the foreground: it prepares the data dir,
// takes its lock, and runs the cluster's stages (control plane, cluster
// services, node) until the context ends.
package server

import (
	"context"
	"time"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/progress"
	"github.com/skiff-dev/skiff/internal/stage"
)

// Run brings the cluster up on o's data dir and keeps it running until ctx
// ends, then stops it in reverse order. report gets one line per step;
// ready is called once the node is ready, with the recorded state.
func Run(ctx context.Context, o cluster.Options, report *progress.Reporter, ready func(instance.State)) error {
	started := time.Now()
	h, err := prepare(o, report)
	if err != nil {
		return err
	}
	defer h.close()
	ctx = h.withLogger(ctx)
	stages := []stage.Stage{h.controlPlane(), h.clusterServices(), h.node()}
	if h.gatewayOn() {
		stages = append(stages, h.gateway())
	}
	if o.MLControllers {
		stages = append(stages, h.mlControllers())
	}
	return stage.Run(ctx, func() { h.markReady(started, ready) }, stages...)
}
