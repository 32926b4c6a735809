package cli

import (
	"cmp"
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/skiff-dev/skiff/internal/controllers/modelservice"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/operator"
)

// OperatorOptions are skiff operator's flags.
type OperatorOptions struct {
	g          *globals
	ctx        context.Context
	Kubeconfig string
	LogFormat  string
	// Gateway is --gateway, namespace/name.
	Gateway  string
	Operator operator.Options
}

// NewCmdOperator builds skiff operator; runF, if not nil, runs instead of
// operatorRun.
func NewCmdOperator(g *globals, runF func(*OperatorOptions) error) *cobra.Command {
	opts := &OperatorOptions{g: g, LogFormat: "text"}
	opts.Operator = operator.Options{
		LeaderElection:          true,
		LeaderElectionNamespace: cmp.Or(os.Getenv("POD_NAMESPACE"), "default"),
	}
	opts.Operator.ModelService.ModelServerImage = instance.Image()
	opts.Operator.ModelService.ClusterDomain = "cluster.local"
	opts.Operator.ModelService.ModelCacheDir = modelservice.DefaultModelCacheDir
	opts.Operator.ModelService.S3.CredentialsSecret = modelservice.DefaultS3CredentialsSecret
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Run skiff's ML controllers (ModelService, ...) against any Kubernetes cluster",
		Long: `Run the controllers that skiff up runs inside, against the cluster of a kubeconfig
(--kubeconfig, $KUBECONFIG, ~/.kube/config) or, in a pod, the cluster it runs in.
The CRDs must be installed (kubectl apply -k deploy/ does, or --install-crds).
With --leader-elect (the default), one of several replicas works at a time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return operatorRun(opts)
		},
	}
	o := &opts.Operator
	f := cmd.Flags()
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config, or the pod's service account)")
	f.BoolVar(&o.InstallCRDs, "install-crds", false, "apply the CRDs of the ML kinds first (needs the right to write CRDs)")
	f.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "take a Lease so that one replica works at a time")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the Lease (default: $POD_NAMESPACE, or default)")
	f.StringVar(&o.MetricsAddress, "metrics-address", "0", "where /metrics listens (0: off)")
	f.StringVar(&o.HealthAddress, "health-address", "0", "where /healthz and /readyz listen (0: off)")
	f.StringVar(&o.ModelService.ModelServerImage, "model-server-image", o.ModelService.ModelServerImage, "image of the native model server pods (its entrypoint is skiff)")
	f.StringVar(&o.ModelService.ClusterDomain, "cluster-domain", o.ModelService.ClusterDomain, "the cluster's DNS domain, in status URLs")
	f.StringVar(&opts.Operator.ModelService.GatewayMetricsURL, "gateway-metrics-url", "", "skiff's gateway's Prometheus endpoint (e.g. http://skiff-gateway.skiff-system:10252/metrics), which spec.rollout.analysis reads (default: none; an analysis then holds its step)")
	f.StringVar(&opts.Gateway, "gateway", "", "a Gateway (namespace/name) of any Gateway API implementation: ModelServices' traffic is written as HTTPRoutes on it and status.url is on its address (default: none, URLs are the Services')")
	f.StringVar(&o.Registry.Dir, "registry-dir", "", "folder where the model registry keeps its copies of model files (a PersistentVolumeClaim mounted into the operator)")
	f.StringVar(&o.Registry.DirURI, "registry-dir-uri", "", "what serving pods mount --registry-dir as: pvc://<claim>[/<path>] (default: file://<registry-dir>, a path on the node)")
	f.StringVar(&o.Registry.S3, "registry-s3", "", "keep the registry's copies in S3-compatible storage instead: s3://<bucket>[/<prefix>]")
	f.StringVar(&o.Registry.S3Config.Endpoint, "registry-s3-endpoint", "", "host:port of the S3 API, for --registry-s3 and for s3:// sources; the keys come from $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY (a Secret in the operator's pod)")
	f.StringVar(&o.Registry.ClaimsDir, "registry-claims-dir", "", "folder where claims are mounted as <namespace>/<claim>, for pvc:// sources (an Experiment's trial outputs) on volumes that are not folders on the operator's host")
	f.BoolVar(&o.Registry.S3Config.Insecure, "registry-s3-insecure", false, "talk plain HTTP to the S3 endpoint")
	f.StringVar(&o.Registry.S3Config.Region, "registry-s3-region", "", "the S3 region (default: the endpoint's)")
	f.StringVar(&o.ModelService.ModelCacheDir, "model-cache-dir", o.ModelService.ModelCacheDir, "folder on each node (a hostPath) where registry versions kept in S3 are cached by sha256 for the model servers (empty: each pod fetches its own copy)")
	f.StringVar(&o.ModelService.S3.Endpoint, "serving-s3-endpoint", "", "host:port of the S3 API as serving pods reach it, for s3:// models (default: --registry-s3-endpoint; --registry-s3-insecure and --registry-s3-region apply)")
	f.StringVar(&o.ModelService.S3.CredentialsSecret, "serving-s3-secret", o.ModelService.S3.CredentialsSecret, "Secret in each ModelService's namespace with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for s3:// models (absent: anonymous reads)")
	f.StringVar(&opts.LogFormat, "log-format", opts.LogFormat, "log format on stderr: text or json")
	return cmd
}

// gatewayRef parses --gateway.
func gatewayRef(s string) (*modelservice.GatewayRef, error) {
	if s == "" {
		return nil, nil
	}
	key, err := namespacedName("--gateway", s)
	if err != nil {
		return nil, err
	}
	return &modelservice.GatewayRef{Namespace: key.Namespace, Name: key.Name}, nil
}

func operatorRun(opts *OperatorOptions) error {
	var err error
	if opts.Operator.ModelService.Gateway, err = gatewayRef(opts.Gateway); err != nil {
		return err
	}
	s3 := &opts.Operator.Registry.S3Config
	s3.AccessKey, s3.SecretKey = cmp.Or(s3.AccessKey, os.Getenv("AWS_ACCESS_KEY_ID")), cmp.Or(s3.SecretKey, os.Getenv("AWS_SECRET_ACCESS_KEY"))
	serving := &opts.Operator.ModelService.S3
	serving.Endpoint, serving.Insecure, serving.Region = cmp.Or(serving.Endpoint, s3.Endpoint), s3.Insecure, s3.Region
	return runAgainstCluster(opts.ctx, opts.g, opts.Kubeconfig, opts.LogFormat, func(ctx context.Context, cfg *rest.Config) error {
		return operator.Run(ctx, cfg, opts.Operator, func() {
			logr.FromContextOrDiscard(ctx).Info("ML controllers running", "version", instance.Version)
		})
	})
}

// runAgainstCluster runs a long-lived part against the kubeconfig's (or
// the pod's) cluster, logging in logFormat, until SIGINT or SIGTERM.
func runAgainstCluster(parent context.Context, g *globals, kubeconfig, logFormat string, run func(context.Context, *rest.Config) error) error {
	handler, err := logHandler(g.stderr, logFormat)
	if err != nil {
		return err
	}
	cfg, _, err := clusterConfig(kubeconfig, "")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return run(logr.NewContext(ctx, logr.FromSlogHandler(handler)), cfg)
}
