package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-dev/skiff/internal/atomicfile"
	"github.com/skiff-dev/skiff/internal/kubeconfig"
)

// KubeconfigOptions are skiff kubeconfig's flags.
type KubeconfigOptions struct {
	g          *globals
	ctx        context.Context
	User       string
	Groups     []string
	Expiration time.Duration
	Namespace  string
	File       string // "" writes to stdout
	Cluster    string
	Kubeconfig string
}

// NewCmdKubeconfig builds skiff kubeconfig; runF, if not nil, runs
// instead of kubeconfigRun.
func NewCmdKubeconfig(g *globals, runF func(*KubeconfigOptions) error) *cobra.Command {
	opts := &KubeconfigOptions{g: g}
	cmd := &cobra.Command{
		Use:   "kubeconfig --user NAME",
		Short: "Write a kubeconfig for a person, signed by the cluster's CA",
		Long: `Writes a kubeconfig for one person: a new key, and a client certificate for
the user name and groups that the cluster's own signer issues through the
CertificateSigningRequest API (as kubeadm's "kubeconfig user" does). What the person
may do is what RoleBindings grant that user or those groups; the file works from any
machine that reaches the API server. Needs the rights to create and approve
certificate signing requests (skiff's admin kubeconfig has them).`,
		Example: `  skiff kubeconfig --user alice --namespace team-vision > alice.kubeconfig
  kubectl --kubeconfig alice.kubeconfig get pods
  skiff kubeconfig --user bob --group team-vision --expiration 720h --file bob.kubeconfig`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return kubeconfigRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.User, "user", "", "the user name (the certificate's common name)")
	f.StringArrayVar(&opts.Groups, "group", nil, "a group the user is in (repeat for more)")
	f.DurationVar(&opts.Expiration, "expiration", 0, "how long the certificate is valid (default: the signer's, a year)")
	f.StringVarP(&opts.Namespace, "namespace", "n", "", "the context's namespace (default: default)")
	f.StringVar(&opts.File, "file", "", "write the kubeconfig here (mode 0600) instead of to standard output")
	f.StringVar(&opts.Cluster, "cluster", "skiff", "the cluster's name in the kubeconfig")
	f.StringVar(&opts.Kubeconfig, "kubeconfig", "", "admin kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
	return cmd
}

func kubeconfigRun(opts *KubeconfigOptions) error {
	admin, _, err := clusterConfig(opts.Kubeconfig, "default")
	if err != nil {
		return err
	}
	report := opts.g.reporter()
	cfg, err := kubeconfig.ForUser(opts.ctx, admin, kubeconfig.UserRequest{
		User: opts.User, Groups: opts.Groups, Expiration: opts.Expiration,
		Cluster: opts.Cluster, Namespace: opts.Namespace, Progress: report.Info,
	})
	if err != nil {
		return err
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if opts.File == "" {
		_, err := opts.g.stdout.Write(data)
		return err
	}
	if err := atomicfile.Write(opts.File, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", opts.File, err)
	}
	report.Info("wrote %s for user %s", opts.File, opts.User)
	return nil
}
