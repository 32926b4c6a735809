package server

import (
	"context"

	"github.com/skiff-dev/skiff/internal/controllers/modelservice"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/operator"
	"github.com/skiff-dev/skiff/internal/stage"
)

// mlControllers run the ML kinds' controllers, the same ones `skiff
// operator` runs, after the CRDs are installed; they start last, so the
// first predictor pods find a node, and stop first.
func (h *house) mlControllers() stage.Stage {
	o := operator.Options{
		InstallCRDs: true,
		ModelService: modelservice.Options{
			ModelServerImage: instance.Image(),
			// The machine reaches cluster IPs through the node's Service rules.
			URLFromClusterIP: h.net != nil,
			ClusterDomain:    h.o.ClusterDomain,
		},
	}
	return stage.Stage{Name: "ML controllers", Run: func(ctx context.Context, ready func()) error {
		return operator.Run(ctx, h.rest, o, ready)
	}}
}
