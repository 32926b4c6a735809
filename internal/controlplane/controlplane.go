package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-logr/logr"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/kubeconfig"
	"github.com/skiff-dev/skiff/internal/progress"
	"github.com/skiff-dev/skiff/internal/stage"
)

// Config says where and how the control plane runs.
type Config struct {
	Layout           datadir.Layout
	BindAddress      net.IP
	AdvertiseAddress net.IP
	APIPort          int
	EtcdPort         int // client port; the peer listener takes EtcdPort+1
	ServiceCIDR      string
	// AlsoListen are more addresses the API server serves on (APIPort),
	// besides BindAddress: the pod network's gateway, so that pods reach
	// the kubernetes Service while the API stays off other networks.
	AlsoListen []net.IP
	// LogOutput receives the components' logs; nil leaves them on stderr.
	LogOutput io.Writer
	// ClusterDomain is the DNS domain of Services (cluster.local): the
	// service account issuer is the API's name in it.
	ClusterDomain string
	// Verbosity is the component log's level (klog -v).
	Verbosity int
	// Progress receives one short line per step, for people.
	Progress *progress.Reporter
}

// APIServerURL is the URL clients use.
func (c *Config) APIServerURL() string {
	host := c.BindAddress
	if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	return "https://" + net.JoinHostPort(host.String(), strconv.Itoa(c.APIPort))
}

func (c *Config) componentKubeconfig(name string) string {
	return filepath.Join(c.Layout.PKI.Dir, name+".kubeconfig")
}

// writeComponentKubeconfigs writes the kubeconfigs the controller-manager
// and scheduler use, each with its own client certificate.
func (c *Config) writeComponentKubeconfigs() error {
	p := c.Layout.PKI
	for _, comp := range []struct{ name, cert, key string }{
		{"controller-manager", p.ControllerManagerCert, p.ControllerManagerKey},
		{"scheduler", p.SchedulerCert, p.SchedulerKey},
	} {
		cfg, err := kubeconfig.Build(kubeconfig.Client{
			Name: comp.name, Server: c.APIServerURL(), CAFile: p.CACert, CertFile: comp.cert, KeyFile: comp.key,
		})
		if err != nil {
			return err
		}
		if err := kubeconfig.Write(c.componentKubeconfig(comp.name), cfg); err != nil {
			return err
		}
	}
	return nil
}

// stopTimeout bounds each component's stop; a hung one is reported and
// the rest still stop.
const stopTimeout = 30 * time.Second

// Run starts etcd, the API server, the controller-manager and the
// scheduler in that order, each once the one before is ready, calls ready
// once all are, and blocks until ctx ends or a component fails.
// Components stop in reverse order, etcd last.
func (c *Config) Run(ctx context.Context, ready func()) error {
	if err := c.writeComponentKubeconfigs(); err != nil {
		return err
	}
	var fresh bool // the data dir held no cluster: wait for bootstrap objects
	return stage.Run(ctx, ready,
		c.component("etcd", "", func(ctx context.Context, ready func()) error { return c.runEtcd(ctx, &fresh, ready) }),
		c.component("kube-apiserver", " on "+c.APIServerURL(), func(ctx context.Context, ready func()) error {
			return c.runAPIServerUntilReady(ctx, readyzExclusions(fresh), ready)
		}),
		c.component("kube-controller-manager", "", serves(c.runControllerManager)),
		c.component("kube-scheduler", "", serves(c.runScheduler)),
	)
}

// component is a stage that says when it starts and stops. Once asked to
// stop, whatever a component returns is its way of saying it stopped (the
// scheduler says "finished without leader elect"): logged, not a failure.
func (c *Config) component(name, where string, run func(ctx context.Context, ready func()) error) stage.Stage {
	return stage.Stage{Name: name, StopTimeout: stopTimeout, Run: func(ctx context.Context, ready func()) error {
		c.Progress.Info("starting %s%s", name, where)
		err := run(ctx, ready)
		if ctx.Err() != nil {
			if err != nil {
				logr.FromContextOrDiscard(ctx).Info("component stopped", "result", err.Error())
			}
			c.Progress.Info("%s stopped", name)
			return nil
		}
		return err
	}}
}

// serves adapts a component that serves as soon as it runs.
func serves(run func(context.Context) error) func(context.Context, func()) error {
	return func(ctx context.Context, ready func()) error {
		ready()
		return run(ctx)
	}
}

// runEtcd serves embedded etcd until ctx ends; fresh is set before ready.
func (c *Config) runEtcd(ctx context.Context, fresh *bool, ready func()) error {
	etcd, isFresh, err := c.startEtcd(ctx)
	if err != nil {
		return err
	}
	defer etcd.Close()
	*fresh = isFresh
	ready()
	select {
	case <-ctx.Done():
		return nil
	case err := <-etcd.Err():
		return fmt.Errorf("etcd: %w", err)
	}
}

// runAPIServerUntilReady runs the API server, calling ready once /readyz
// (less exclude) answers.
func (c *Config) runAPIServerUntilReady(ctx context.Context, exclude []string, ready func()) error {
	done := make(chan error, 1)
	go func() { done <- c.runAPIServer(ctx) }()
	if err := c.waitReady(ctx, done, exclude); err != nil {
		return errors.Join(err, <-done)
	}
	ready()
	return <-done
}

// bootstrapHooks re-apply default objects (RBAC roles, priority classes)
// that a restarted cluster already holds in etcd; upstream polls them only
// after a fixed one-second delay.
var bootstrapHooks = []string{
	"poststarthook/rbac/bootstrap-roles",
	"poststarthook/scheduling/bootstrap-system-priority-classes",
}

// readyzExclusions lets a restart call the API ready without waiting for the
// bootstrap hooks, whose objects exist from the previous run; a fresh
// cluster waits for them.
func readyzExclusions(fresh bool) []string {
	if fresh {
		return nil
	}
	return bootstrapHooks
}
