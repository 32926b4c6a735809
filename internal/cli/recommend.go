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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/node"
	"github.com/skiff-dev/skiff/internal/recommend"
)

// containerAdvice is one container's current requests and the advice.
type containerAdvice struct {
	Container   string                    `json:"container"`
	CPURequest  string                    `json:"cpuRequest"`
	MemRequest  string                    `json:"memoryRequest"`
	Recommended *recommend.Recommendation `json:"recommended,omitempty"`
	Reason      string                    `json:"reason,omitempty"`
}

// RecommendOptions are skiff recommend's flags and argument.
type RecommendOptions struct {
	g          *globals
	ctx        context.Context
	Target     string // deployment/<name>
	Namespace  string
	Output     string // "" (a table), json or yaml
	Kubeconfig string // empty: the data dir's
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
working set, each plus 15%, at least 25m and 250Mi, as the Vertical Pod
Autoscaler's recommender does. Nothing is changed: apply the numbers with
kubectl set resources, which rolls the Deployment out as usual.`,
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
	return cmd
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
	kubeconfig := opts.Kubeconfig
	if kubeconfig == "" {
		layout, err := opts.g.layout()
		if err != nil {
			return err
		}
		kubeconfig = layout.Kubeconfig
	}
	advice, err := recommendDeployment(opts.ctx, kubeconfig, opts.Namespace, name)
	if err != nil {
		return err
	}
	if done, err := printObject(opts.g.stdout, opts.Output, advice); done {
		return err
	}
	return printAdvice(opts.g.stdout, advice)
}

func printAdvice(w io.Writer, advice []containerAdvice) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tCPU REQUEST\tMEMORY REQUEST\tRECOMMENDED CPU\tRECOMMENDED MEMORY\tSAMPLES\tWINDOW")
	for _, a := range advice {
		if a.Recommended == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t%s\n", a.Container, a.CPURequest, a.MemRequest, a.Reason)
			continue
		}
		r := a.Recommended
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.Container, a.CPURequest, a.MemRequest, r.CPU.String(), r.Memory.String(),
			r.Samples, r.To.Sub(r.From).Round(time.Second))
	}
	return tw.Flush()
}

// recommendDeployment gathers the samples of the Deployment's pods from
// their nodes (through the API server's node proxy) and advises per
// container.
func recommendDeployment(ctx context.Context, kubeconfig, namespace, name string) ([]containerAdvice, error) {
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
		a := containerAdvice{Container: c.Name, CPURequest: request(c, corev1.ResourceCPU), MemRequest: request(c, corev1.ResourceMemory)}
		r, err := recommend.Default.For(samples[c.Name])
		switch {
		case errors.Is(err, recommend.ErrTooFewSamples):
			a.Reason = err.Error()
		case err != nil:
			return nil, err
		default:
			a.Recommended = &r
		}
		out = append(out, a)
	}
	return out, nil
}

func request(c corev1.Container, name corev1.ResourceName) string {
	if q, ok := c.Resources.Requests[name]; ok {
		return q.String()
	}
	return "-"
}
