package controlplane

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/kubeconfig"
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
	// Progress receives one short line per step, for people.
	Progress func(format string, args ...any)
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

func (c *Config) progress(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(format, args...)
	}
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

// component is one long-running part, stopped by cancelling its context.
type component struct {
	name   string
	cancel context.CancelFunc
	done   chan error
}

func start(ctx context.Context, name string, run func(context.Context) error) *component {
	// Detached from ctx so that shutdown can stop components one by one,
	// in reverse order, rather than all at once.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &component{name: name, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- run(cctx) }()
	return c
}

// stop cancels the component and waits for it, at most timeout.
func (c *component) stop(timeout time.Duration) error {
	c.cancel()
	select {
	case err := <-c.done:
		// Once cancelled, whatever a component returns is its way of
		// saying it stopped (the scheduler says "finished without leader
		// elect"); it is logged, not reported as a failure.
		if err != nil {
			klog.InfoS("component stopped", "component", c.name, "result", err.Error())
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s did not stop within %s", c.name, timeout)
	}
}

// Run starts etcd, the API server, the controller-manager and the scheduler
// in that order, calls ready once the API answers, and blocks until ctx ends
// or a component fails. Components stop in reverse order, etcd last.
func (c *Config) Run(ctx context.Context, ready func()) (err error) {
	if err := c.writeComponentKubeconfigs(); err != nil {
		return err
	}
	c.progress("starting etcd")
	etcd, fresh, err := c.startEtcd(ctx)
	if err != nil {
		return err
	}
	var running []*component
	defer func() {
		for i := len(running) - 1; i >= 0; i-- {
			if serr := running[i].stop(30 * time.Second); serr != nil && err == nil {
				err = serr
			}
			c.progress("%s stopped", running[i].name)
		}
		etcd.Close()
		c.progress("etcd stopped")
	}()

	c.progress("starting kube-apiserver on %s", c.APIServerURL())
	apiserver := start(ctx, "kube-apiserver", c.runAPIServer)
	running = append(running, apiserver)
	if err := c.waitReady(ctx, apiserver, readyzExclusions(fresh)); err != nil {
		return err
	}
	c.progress("starting kube-controller-manager and kube-scheduler")
	running = append(running,
		start(ctx, "kube-controller-manager", c.runControllerManager),
		start(ctx, "kube-scheduler", c.runScheduler))
	if ready != nil {
		ready()
	}
	return c.watch(ctx, running, etcd.Err())
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

// watch blocks until ctx ends or any component exits on its own.
func (c *Config) watch(ctx context.Context, running []*component, etcdErr <-chan error) error {
	failed := make(chan error, len(running))
	for _, comp := range running {
		go func() {
			select {
			case err := <-comp.done:
				comp.done <- err // keep it for stop
				if ctx.Err() == nil {
					failed <- fmt.Errorf("%s exited: %v", comp.name, err)
				}
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	case err := <-etcdErr:
		return fmt.Errorf("etcd: %w", err)
	}
}
