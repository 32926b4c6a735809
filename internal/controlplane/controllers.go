package controlplane

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	cmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	cmoptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
	schedapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
	schedoptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// Client rate limits for the controllers. The upstream default of 20 QPS
// makes a 100-replica Deployment crawl; a local API server takes far more.
const (
	controllerQPS   = "500"
	controllerBurst = "1000"
)

func (c *Config) controllerManagerArgs() []string {
	p := c.Layout.PKI
	return []string{
		"--kubeconfig=" + c.componentKubeconfig("controller-manager"),
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.ServiceAccountKey,
		"--root-ca-file=" + p.CACert,
		"--cluster-signing-cert-file=" + p.CACert,
		"--cluster-signing-key-file=" + p.CAKey,
		"--service-cluster-ip-range=" + c.ServiceCIDR,
		"--kube-api-qps=" + controllerQPS,
		"--kube-api-burst=" + controllerBurst,
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
	}
}

func (c *Config) schedulerArgs() []string {
	return []string{
		"--kubeconfig=" + c.componentKubeconfig("scheduler"),
		"--secure-port=0",
		"--leader-elect=false",
		"--kube-api-qps=" + controllerQPS,
		"--kube-api-burst=" + controllerBurst,
	}
}

// runControllerManager runs kube-controller-manager until ctx ends.
func (c *Config) runControllerManager(ctx context.Context) error {
	s, err := cmoptions.NewKubeControllerManagerOptions()
	if err != nil {
		return fmt.Errorf("kube-controller-manager options: %w", err)
	}
	known, disabled, aliases := cmapp.KnownControllers(), cmapp.ControllersDisabledByDefault(), cmapp.ControllerAliases()
	named := s.Flags(known, disabled, aliases)
	s.ParsedFlags = &named
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(c.controllerManagerArgs()); err != nil {
		return fmt.Errorf("kube-controller-manager flags: %w", err)
	}
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("kube-controller-manager feature gates: %w", err)
	}
	cfg, err := s.Config(ctx, known, disabled, aliases)
	if err != nil {
		return fmt.Errorf("kube-controller-manager config: %w", err)
	}
	return cmapp.Run(ctx, cfg.Complete())
}

// runScheduler runs kube-scheduler until ctx ends.
func (c *Config) runScheduler(ctx context.Context) error {
	opts := schedoptions.NewOptions()
	fs := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	for _, f := range opts.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(c.schedulerArgs()); err != nil {
		return fmt.Errorf("kube-scheduler flags: %w", err)
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("kube-scheduler feature gates: %w", err)
	}
	cc, sched, err := schedapp.Setup(ctx, opts)
	if err != nil {
		return fmt.Errorf("kube-scheduler setup: %w", err)
	}
	return schedapp.Run(ctx, cc, sched)
}
