package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// ModelsShowOptions are the flags and argument of models list, versions
// and history.
type ModelsShowOptions struct {
	ModelsOptions
	Model string
}

// newCmdModelsShow builds one of the verbs that read the registry; run
// is the verb's own unless the runners replace it.
func newCmdModelsShow(g *globals, use, short string, args cobra.PositionalArgs, run func(*ModelsShowOptions) error) *cobra.Command {
	opts := &ModelsShowOptions{ModelsOptions: ModelsOptions{g: g}}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx = cmd.Context()
			if len(args) > 0 {
				opts.Model = args[0]
			}
			return run(opts)
		},
	}
	opts.bind(cmd, true)
	return cmd
}

func newCmdModelsList(g *globals, r *ModelsRunners) *cobra.Command {
	return newCmdModelsShow(g, "list", "List the registered models of a namespace", cobra.NoArgs, r.show("list", modelsListRun))
}

func newCmdModelsVersions(g *globals, r *ModelsRunners) *cobra.Command {
	return newCmdModelsShow(g, "versions MODEL", "List a model's versions, newest first", cobra.ExactArgs(1), r.show("versions", modelsVersionsRun))
}

func newCmdModelsHistory(g *globals, r *ModelsRunners) *cobra.Command {
	return newCmdModelsShow(g, "history MODEL",
		"A model's lineage: versions (from which run, with which parameters), alias moves and who made them, what serves it",
		cobra.ExactArgs(1), r.show("history", modelsHistoryRun))
}

func modelsListRun(opts *ModelsShowOptions) error {
	c, ns, err := opts.client()
	if err != nil {
		return err
	}
	var list mlv1.ModelList
	if err := c.List(opts.ctx, &list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing models in %s: %w", ns, err)
	}
	if printed, err := printObject(opts.g.stdout, opts.Output, &list); printed {
		return err
	}
	if len(list.Items) == 0 {
		_, err := fmt.Fprintf(opts.g.stdout, "No models in namespace %s: skiff models push FILE --name MODEL registers one.\n", ns)
		return err
	}
	tw := tabwriter.NewWriter(opts.g.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLATEST\tVERSIONS\tALIASES\tREADY\tAGE")
	for _, m := range list.Items {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", m.Name, m.Status.LatestVersion, m.Status.VersionCount, orNone(m.Status.AliasSummary),
			readyStatus(m.Status.Conditions), age(m.CreationTimestamp.Time))
	}
	return tw.Flush()
}

// versionsOf are a model's versions, newest first.
func versionsOf(ctx context.Context, c client.Client, ns, model string) ([]mlv1.ModelVersion, error) {
	var list mlv1.ModelVersionList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing versions of model %s/%s: %w", ns, model, err)
	}
	out := slices.DeleteFunc(list.Items, func(v mlv1.ModelVersion) bool { return v.Spec.Model != model })
	slices.SortFunc(out, func(a, b mlv1.ModelVersion) int {
		return cmp.Or(cmp.Compare(b.Number(), a.Number()), b.CreationTimestamp.Compare(a.CreationTimestamp.Time))
	})
	return out, nil
}

func modelsVersionsRun(opts *ModelsShowOptions) error {
	c, ns, err := opts.client()
	if err != nil {
		return err
	}
	versions, err := versionsOf(opts.ctx, c, ns, opts.Model)
	if err != nil {
		return err
	}
	if printed, err := printObject(opts.g.stdout, opts.Output, &mlv1.ModelVersionList{Items: versions}); printed {
		return err
	}
	if len(versions) == 0 {
		_, err := fmt.Fprintf(opts.g.stdout, "Model %s has no versions in namespace %s.\n", opts.Model, ns)
		return err
	}
	var m mlv1.Model
	aliases := map[int64][]string{}
	if err := c.Get(opts.ctx, client.ObjectKey{Namespace: ns, Name: opts.Model}, &m); err == nil {
		for a, n := range m.Spec.Aliases {
			aliases[n] = append(aliases[n], a)
		}
	}
	tw := tabwriter.NewWriter(opts.g.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tALIASES\tFORMAT\tREADY\tREASON\tSIZE\tSOURCE\tAGE")
	for _, v := range versions {
		slices.Sort(aliases[v.Number()])
		reason := ""
		if c := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady); c != nil {
			reason = c.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", numberOrPending(v.Number()), v.Name, orNone(strings.Join(aliases[v.Number()], ",")),
			v.Spec.ModelFormat.Name, readyStatus(v.Status.Conditions), reason, v.Status.Size, v.Spec.Source.StorageURI, age(v.CreationTimestamp.Time))
	}
	return tw.Flush()
}

func modelsHistoryRun(opts *ModelsShowOptions) error {
	c, ns, err := opts.client()
	if err != nil {
		return err
	}
	var m mlv1.Model
	if err := c.Get(opts.ctx, client.ObjectKey{Namespace: ns, Name: opts.Model}, &m); err != nil {
		return fmt.Errorf("model %s/%s: %w", ns, opts.Model, err)
	}
	versions, err := versionsOf(opts.ctx, c, ns, opts.Model)
	if err != nil {
		return err
	}
	var services mlv1.ModelServiceList
	if err := c.List(opts.ctx, &services, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing modelservices in %s: %w", ns, err)
	}
	h := modelHistory(&m, versions, services.Items)
	if printed, err := printObject(opts.g.stdout, opts.Output, h); printed {
		return err
	}
	return printHistory(opts.g.stdout, h)
}

func readyStatus(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, mlv1.ConditionReady); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}

func numberOrPending(n int64) string {
	if n == 0 {
		return "<pending>"
	}
	return strconv.FormatInt(n, 10)
}

func age(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// printHistory writes the history as kubectl writes events: oldest first.
func printHistory(w io.Writer, h *ModelHistory) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tVERSION\tDETAILS")
	for _, e := range h.Events {
		v := ""
		if e.Version > 0 {
			v = strconv.FormatInt(e.Version, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Event, v, e.Details)
	}
	if len(h.Serving) > 0 {
		fmt.Fprintln(tw, "\nSERVED BY\tURI\tVERSION\tREVISIONS")
		for _, s := range h.Serving {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.ModelService, s.URI, s.Version, strings.Join(s.Revisions, ","))
		}
	}
	return tw.Flush()
}
