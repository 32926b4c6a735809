package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/node"
	"github.com/skiff-dev/skiff/internal/recommend"
)

// containerAdvice is one container's current requests and limits, the
// advice, and what a person should know before applying it.
type containerAdvice struct {
	Container   string                    `json:"container"`
	CPURequest  string                    `json:"cpuRequest"`
	MemRequest  string                    `json:"memoryRequest"`
	CPULimit    string                    `json:"cpuLimit"`
	MemLimit    string                    `json:"memoryLimit"`
	Recommended *recommend.Recommendation `json:"recommended,omitempty"`
	Reason      string                    `json:"reason,omitempty"`
	Notes       []string                  `json:"notes,omitempty"`
}

// RecommendOptions are skiff recommend's flags and argument.
type RecommendOptions struct {
	g          *globals
	ctx        context.Context
	Target     string // deployment/<name>
	Namespace  string
	Output     string // "" (a table), json or yaml
	Kubeconfig string // empty: the data dir's
	MinCPU     string // the floors, as quantities
	MinMemory  string
}

// NewCmdRecommend builds skiff recommend; runF, if not nil, runs instead
// of recommendRun.
func NewCmdRecommend(g *globals, runF func(*RecommendOptions) error) *cobra.Command {
	opts := &RecommendOptions{g: g, Namespace: "default"}
	cmd := &cobra.Command{
		Use:   "recommend deployment/<name>",
		Short: "Recommend a Deployment's container requests from their observed usage (the VPA recommender's method)",
		Long: `Recommend CPU and memory requests for each container of a Deployment from
the usage the node sampled every 15 s over the last day (kept in memory: a
restart of skiff starts afresh), across all of the Deployment's pods:
CPU = 90th percentile of the CPU rate, memory = 90th percentile of the
working set, each plus 15%, at least 25m and 250Mi (--min-cpu, --min-memory),
as the Vertical Pod Autoscaler's recommender does. The observed median and
90th percentile are shown beside the advice, and a note says when a floor set
the number or the advice is above the container's limit. Nothing is changed:
apply the numbers with kubectl set resources, which rolls the Deployment out
as usual.`,
		Example: `  skiff recommend deployment/web
  skiff recommend deployment/web --min-memory 32Mi -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.Target = cmd.Context(), args[0]
			if runF != nil {
				return runF(opts)
			}
			return recommendRun(opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Namespace, "namespace", "n", opts.Namespace, "the Deployment's namespace")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "output format: json or yaml")
	cmd.Flags().StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: the data dir's)")
	cmd.Flags().StringVar(&opts.MinCPU, "min-cpu", "25m", "the least CPU request to advise")
	cmd.Flags().StringVar(&opts.MinMemory, "min-memory", "250Mi", "the least memory request to advise (VPA's floor; small services use far less)")
	return cmd
}

// method is the VPA method with the floors of --min-cpu and --min-memory.
func (opts *RecommendOptions) method() (recommend.Method, error) {
	m := recommend.Default
	cpu, err := resource.ParseQuantity(opts.MinCPU)
	if err != nil {
		return m, fmt.Errorf("--min-cpu %q: %w (write it as 25m or 0.1)", opts.MinCPU, err)
	}
	mem, err := resource.ParseQuantity(opts.MinMemory)
	if err != nil {
		return m, fmt.Errorf("--min-memory %q: %w (write it as 64Mi or 1Gi)", opts.MinMemory, err)
	}
	m.MinCPUMillicores, m.MinMemoryBytes = cpu.MilliValue(), mem.Value()
	return m, nil
}

// deploymentName is the name in deployment/<name> (or deploy/, deployments/).
func deploymentName(target string) (string, error) {
	kind, name, ok := strings.Cut(target, "/")
	if !ok || (kind != "deployment" && kind != "deployments" && kind != "deploy") || name == "" {
		return "", fmt.Errorf("%q: name a Deployment as deployment/<name>", target)
	}
	return name, nil
}

func recommendRun(opts *RecommendOptions) error {
	name, err := deploymentName(opts.Target)
	if err != nil {
		return err
	}
	method, err := opts.method()
	if err != nil {
		return err
	}
	kubeconfig := opts.Kubeconfig
	if kubeconfig == "" {
		layout, err := opts.g.layout()
		if err != nil {
			return err
		}
		kubeconfig = layout.Kubeconfig
	}
	advice, err := recommendDeployment(opts.ctx, kubeconfig, opts.Namespace, name, method)
	if err != nil {
		return err
	}
	if done, err := printObject(opts.g.stdout, opts.Output, advice); done {
		return err
	}
	target := "deployment/" + name
	if opts.Namespace != "default" {
		target = "-n " + opts.Namespace + " " + target
	}
	return printAdvice(opts.g.stdout, target, advice)
}

// printAdvice is a table of usage and advice per container, then the
// notes, then the command that applies the advice.
func printAdvice(w io.Writer, target string, advice []containerAdvice) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tCPU REQUEST\tCPU USED P50/P90\tRECOMMENDED CPU\tMEMORY REQUEST\tMEMORY USED P50/P90\tRECOMMENDED MEMORY\tSAMPLES\tWINDOW")
	var notes, apply []string
	for _, a := range advice {
		if a.Recommended == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t%s\t-\t-\t-\t%s\n", a.Container, a.CPURequest, a.MemRequest, a.Reason)
			continue
		}
		r, u := a.Recommended, a.Recommended.Observed
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s/%s\t%s\t%d\t%s\n", a.Container,
			a.CPURequest, u.CPUP50.String(), u.CPUP90.String(), r.CPU.String(),
			a.MemRequest, u.MemoryP50.String(), u.MemoryP90.String(), r.Memory.String(),
			r.Samples, r.To.Sub(r.From).Round(time.Second))
		for _, n := range a.Notes {
			notes = append(notes, a.Container+": "+n)
		}
		apply = append(apply, fmt.Sprintf("kubectl set resources %s -c %s --requests=cpu=%s,memory=%s", target, a.Container, r.CPU.String(), r.Memory.String()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if len(apply) > 0 {
		fmt.Fprintln(w, "To apply:")
		for _, a := range apply {
			fmt.Fprintln(w, "  "+a)
		}
	}
	return nil
}

// notes are what a person must know before applying r to c: a floor that
// set the number (with its flag), and advice above the container's limit,
// which the API server would refuse.
func notes(c corev1.Container, r recommend.Recommendation) []string {
	var out []string
	if r.CPUAtFloor {
		out = append(out, fmt.Sprintf("cpu %s is the floor, not the usage (p90 %s); lower it with --min-cpu", r.CPU.String(), r.Observed.CPUP90.String()))
	}
	if r.MemoryAtFloor {
		out = append(out, fmt.Sprintf("memory %s is the floor, not the usage (p90 %s); lower it with --min-memory", r.Memory.String(), r.Observed.MemoryP90.String()))
	}
	for _, res := range []struct {
		name   corev1.ResourceName
		advice resource.Quantity
	}{{corev1.ResourceCPU, r.CPU}, {corev1.ResourceMemory, r.Memory}} {
		limit, ok := c.Resources.Limits[res.name]
		if !ok || res.advice.Cmp(limit) <= 0 {
			continue
		}
		out = append(out, fmt.Sprintf("the %s advice %s is above the limit %s: a request may not exceed its limit, so raise the limit with it (--limits=%s=...)",
			res.name, res.advice.String(), limit.String(), res.name))
	}
	return out
}

// recommendDeployment gathers the samples of the Deployment's pods from
// their nodes (through the API server's node proxy) and advises per
// container.
func recommendDeployment(ctx context.Context, kubeconfig, namespace, name string, method recommend.Method) ([]containerAdvice, error) {
	rest, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, err
	}
	dep, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", namespace, name, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", namespace, name, err)
	}
	// Every node the Deployment's pods ran on (a single node on skiff).
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	samples := map[string][]recommend.Sample{}
	for _, n := range nodes.Items {
		raw, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n.Name, "proxy", node.UsagePath).
			Param("namespace", namespace).Param("selector", sel.String()).Do(ctx).Raw()
		if err != nil {
			return nil, fmt.Errorf("usage from node %s: %w", n.Name, err)
		}
		var got []node.ContainerSamples
		if err := json.Unmarshal(raw, &got); err != nil {
			return nil, fmt.Errorf("usage from node %s: %w", n.Name, err)
		}
		for _, c := range got {
			samples[c.Container] = append(samples[c.Container], c.Samples...)
		}
	}
	var out []containerAdvice
	for _, c := range dep.Spec.Template.Spec.Containers {
		a := containerAdvice{Container: c.Name,
			CPURequest: quantity(c.Resources.Requests, corev1.ResourceCPU), MemRequest: quantity(c.Resources.Requests, corev1.ResourceMemory),
			CPULimit: quantity(c.Resources.Limits, corev1.ResourceCPU), MemLimit: quantity(c.Resources.Limits, corev1.ResourceMemory)}
		r, err := method.For(samples[c.Name])
		switch {
		case errors.Is(err, recommend.ErrTooFewSamples):
			a.Reason = err.Error()
		case err != nil:
			return nil, err
		default:
			a.Recommended, a.Notes = &r, notes(c, r)
		}
		out = append(out, a)
	}
	return out, nil
}

func quantity(list corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := list[name]; ok {
		return q.String()
	}
	return "-"
}
