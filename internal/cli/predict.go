package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/predict"
)

// PredictOptions are skiff predict's flags and argument.
type PredictOptions struct {
	g          *globals
	ctx        context.Context
	stdin      io.Reader
	Name       string
	Namespace  string
	Kubeconfig string
	Data       string
	Output     string
}

// NewCmdPredict builds skiff predict; runF, if not nil, runs instead of
// predictRun.
func NewCmdPredict(g *globals, runF func(*PredictOptions) error) *cobra.Command {
	opts := &PredictOptions{g: g, stdin: os.Stdin}
	cmd := &cobra.Command{
		Use:   "predict NAME --data JSON|@FILE.json|@FILE.csv|-",
		Short: "Send rows to a ModelService and print its predictions",
		Long: `Send rows to a ModelService through the Kubernetes API (so it works from any machine
that has the kubeconfig) and print the answers as a table, or -o json as the model
answered. A native model gets an Open Inference Protocol v2 request; a model server
of your own gets each row as a JSON object on POST /predict (the seeds' API).`,
		Example: `  skiff predict housing --data '[[0.02, 18, 2.3]]'
  skiff predict housing --data '{"CRIM": 15.02, "ZN": 0, "INDUS": 18.1}'
  skiff predict housing --data @rows.csv -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.Name = cmd.Context(), args[0]
			if runF != nil {
				return runF(opts)
			}
			return predictRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's)")
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVarP(&opts.Data, "data", "d", "", "rows: JSON text, @file.json, @file.csv (a header names the features), or - for JSON on stdin")
	f.StringVarP(&opts.Output, "output", "o", "", "json: print the model's answer as it is")
	_ = cmd.MarkFlagRequired("data") // names a flag defined above: cannot fail
	return cmd
}

func predictRun(opts *PredictOptions) error {
	if opts.Output != "" && opts.Output != "json" {
		return fmt.Errorf("unknown output format %q: use -o json, or leave -o out for a table", opts.Output)
	}
	rows, err := predict.Read(opts.Data, opts.stdin)
	if err != nil {
		return err
	}
	cfg, ns, err := clusterConfig(opts.Kubeconfig, opts.Namespace)
	if err != nil {
		return err
	}
	c, err := mlClient(cfg)
	if err != nil {
		return err
	}
	var ms mlv1.ModelService
	if err := c.Get(opts.ctx, client.ObjectKey{Namespace: ns, Name: opts.Name}, &ms); err != nil {
		return fmt.Errorf("modelservice %s/%s: %w", ns, opts.Name, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	p := &proxy{ctx: opts.ctx, cs: cs, ms: &ms}
	if err := p.resolve(); err != nil {
		return err
	}
	var table predict.Table
	if ms.Spec.Predictor.Model != nil {
		table, err = p.inferV2(rows, opts)
	} else {
		table, err = p.postRows(rows, opts)
	}
	if err != nil || opts.Output == "json" {
		return err
	}
	return printTable(opts.g.stdout, table)
}

// proxy reaches a ModelService's Service through the API server.
type proxy struct {
	ctx     context.Context
	cs      kubernetes.Interface
	ms      *mlv1.ModelService
	service string
}

// resolve finds the Service from status.address.
func (p *proxy) resolve() error {
	if p.ms.Status.Address == nil || p.ms.Status.Address.URL == "" {
		return fmt.Errorf("modelservice %s has no address yet: see kubectl describe modelservice %s", p.ms.Name, p.ms.Name)
	}
	u, err := url.Parse(p.ms.Status.Address.URL)
	if err != nil {
		return fmt.Errorf("modelservice %s: status.address.url: %w", p.ms.Name, err)
	}
	p.service, _, _ = strings.Cut(u.Hostname(), ".")
	return nil
}

func (p *proxy) post(path string, body []byte) ([]byte, error) {
	res := p.cs.CoreV1().RESTClient().Post().
		AbsPath("/api/v1/namespaces", p.ms.Namespace, "services", p.service+":http", "proxy", path).
		SetHeader("Content-Type", "application/json").Body(body).Do(p.ctx)
	raw, err := res.Raw()
	if err != nil {
		var answer struct{ Error string }
		if json.Unmarshal(raw, &answer) == nil && answer.Error != "" {
			return nil, fmt.Errorf("modelservice %s: %s", p.ms.Name, answer.Error)
		}
		return nil, fmt.Errorf("modelservice %s: %w", p.ms.Name, err)
	}
	return raw, nil
}

func (p *proxy) inferV2(rows predict.Rows, opts *PredictOptions) (predict.Table, error) {
	body, err := rows.V2Request()
	if err != nil {
		return predict.Table{}, err
	}
	answer, err := p.post("v2/models/"+p.ms.Name+"/infer", body)
	if err != nil {
		return predict.Table{}, err
	}
	if opts.Output == "json" {
		_, err := fmt.Fprintf(opts.g.stdout, "%s\n", answer)
		return predict.Table{}, err
	}
	return predict.V2Table(answer, rows.Len())
}

func (p *proxy) postRows(rows predict.Rows, opts *PredictOptions) (predict.Table, error) {
	bodies, err := rows.Objects()
	if err != nil {
		return predict.Table{}, err
	}
	answers := make([][]byte, len(bodies))
	for i, b := range bodies {
		if answers[i], err = p.post("predict", b); err != nil {
			return predict.Table{}, fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	if opts.Output == "json" {
		list := make([]json.RawMessage, len(answers))
		for i, a := range answers {
			list[i] = a
		}
		data, err := json.MarshalIndent(list, "", "    ")
		if err == nil {
			_, err = fmt.Fprintf(opts.g.stdout, "%s\n", data)
		}
		return predict.Table{}, err
	}
	return predict.ObjectTable(answers)
}

func printTable(w io.Writer, t predict.Table) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
	for _, line := range t.Lines {
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	return tw.Flush()
}
