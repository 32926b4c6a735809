package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/controllers/modelservice"
)

// RolloutOptions are skiff rollout promote|abort's flags and argument.
type RolloutOptions struct {
	g          *globals
	ctx        context.Context
	Action     string // promote or abort
	Name       string
	Namespace  string
	Kubeconfig string
}

// NewCmdRollout builds skiff rollout with its promote and abort verbs;
// runF, if not nil, runs instead of rolloutRun.
func NewCmdRollout(g *globals, runF func(*RolloutOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Promote or abort a ModelService's canary, shadow or rollout",
		Long: `Shortcuts for what kubectl does with spec.predictor.canaryTrafficPercent and
shadowTrafficPercent: promote removes both (the latest revision takes all traffic and
becomes the stable one); abort sets the canary share to 0 and stops the shadow copies
(all traffic goes back to the stable revision; the latest one stays up, so setting a
percentage again resumes).

With spec.rollout (steps with analysis, or blue/green) they annotate the ModelService
with ml.skiff.dev/rollout-action=promote:<revision> or abort:<revision>: promote ends the
rollout with the latest revision stable (blue/green: the old revision goes), abort sends
all traffic back to the stable revision (blue/green: an instant switch back).`,
	}
	for _, verb := range []struct{ name, short, example string }{
		{"promote", "Send all of a ModelService's traffic to its latest revision", "  skiff rollout promote housing"},
		{"abort", "Send all of a ModelService's traffic back to its stable revision", "  skiff rollout abort housing -n team-a"},
	} {
		opts := &RolloutOptions{g: g, Action: verb.name}
		sub := &cobra.Command{
			Use:     verb.name + " NAME",
			Short:   verb.short,
			Example: verb.example,
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				opts.ctx, opts.Name = cmd.Context(), args[0]
				if runF != nil {
					return runF(opts)
				}
				return rolloutRun(opts)
			},
		}
		f := sub.Flags()
		f.StringVarP(&opts.Namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's)")
		f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)")
		cmd.AddCommand(sub)
	}
	return cmd
}

// canaryPatches are the merge patches of each verb.
var canaryPatches = map[string]string{
	"promote": `{"spec":{"predictor":{"canaryTrafficPercent":null,"shadowTrafficPercent":null}}}`,
	"abort":   `{"spec":{"predictor":{"canaryTrafficPercent":0,"shadowTrafficPercent":null}}}`,
}

// rolloutActionPatch asks the controller to promote or abort revision's
// rollout.
func rolloutActionPatch(action, revision string) string {
	return fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, modelservice.AnnotationRolloutAction, action+":"+revision)
}

func rolloutRun(opts *RolloutOptions) error {
	cfg, ns, err := clusterConfig(opts.Kubeconfig, opts.Namespace)
	if err != nil {
		return err
	}
	c, err := mlClient(cfg)
	if err != nil {
		return err
	}
	ms := &mlv1.ModelService{}
	if err := c.Get(opts.ctx, client.ObjectKey{Namespace: ns, Name: opts.Name}, ms); err != nil {
		return fmt.Errorf("modelservice %s/%s: %w", ns, opts.Name, err)
	}
	latest, stable := ms.Status.LatestCreatedRevision, ms.Status.StableRevision
	if opts.Action == "abort" && (stable == "" || stable == latest) {
		return fmt.Errorf("modelservice %s/%s has no canary to abort: its latest revision %s is the stable one", ns, opts.Name, latest)
	}
	body := canaryPatches[opts.Action]
	if ms.Spec.Rollout != nil {
		if stable == "" || stable == latest {
			return fmt.Errorf("modelservice %s/%s has no rollout to %s: its latest revision %s is the stable one", ns, opts.Name, opts.Action, latest)
		}
		body = rolloutActionPatch(opts.Action, latest)
	}
	patch := client.RawPatch("application/merge-patch+json", []byte(body))
	if err := c.Patch(opts.ctx, ms, patch); err != nil {
		return fmt.Errorf("modelservice %s/%s: %w", ns, opts.Name, err)
	}
	switch opts.Action {
	case "promote":
		fmt.Fprintf(opts.g.stdout, "modelservice/%s promoted: revision %s takes all traffic once ready\n", opts.Name, latest)
	default:
		fmt.Fprintf(opts.g.stdout, "modelservice/%s canary aborted: revision %s takes all traffic, %s stays up with none\n", opts.Name, stable, latest)
	}
	return nil
}
