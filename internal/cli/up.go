package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/progress"
	"github.com/skiff-dev/skiff/internal/server"
)

// UpOptions are skiff up's flags.
type UpOptions struct {
	g       *globals
	ctx     context.Context
	Cluster cluster.Options
	Detach  bool
	Timeout time.Duration // with Detach: how long to wait for the API
	// PprofAddress serves Go's profiles (net/http/pprof) there, for
	// benchmarks; "" does not.
	PprofAddress string
	// ChildFlags go to a detached child: every flag the user set, as set
	// (see childFlags).
	ChildFlags []string
}

// parentOnly marks flags that mean something only to the process the
// user started, so they are not passed to a detached child.
const parentOnly = "skiff.dev/parent-only"

// NewCmdUp builds skiff up; runF, if not nil, runs instead of upRun.
func NewCmdUp(g *globals, runF func(*UpOptions) error) *cobra.Command {
	opts := &UpOptions{g: g, Cluster: cluster.Defaults(), Timeout: 3 * time.Minute}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster (in the foreground, or in the background with --detach)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ctx = cmd.Context()
			opts.ChildFlags = childFlags(cmd)
			if runF != nil {
				return runF(opts)
			}
			return upRun(opts)
		},
	}
	o := &opts.Cluster
	f := cmd.Flags()
	f.IntVar(&o.APIPort, "api-port", o.APIPort, "port of the Kubernetes API server")
	f.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "address the API server listens on")
	f.StringVar(&o.AdvertiseAddress, "advertise-address", "", "address the API server advertises as the kubernetes Service endpoint (default: this machine's main IPv4 address)")
	f.IntVar(&o.EtcdPort, "etcd-port", o.EtcdPort, "loopback port of embedded etcd (it also uses the next one)")
	f.StringVar(&o.ServiceCIDR, "service-cidr", o.ServiceCIDR, "IP range of ClusterIP Services")
	f.StringVar(&o.PodCIDR, "pod-cidr", o.PodCIDR, "IP range pods get their addresses from (the node's bridge takes the first)")
	f.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "DNS domain of Services and pods")
	f.StringVar(&o.ResolvConf, "resolv-conf", o.ResolvConf, "the node's resolver configuration: the cluster DNS forwards to its nameservers, pods with dnsPolicy Default get it (\"\": none)")
	f.BoolVar(&o.PodNetwork, "pod-network", o.PodNetwork, "give pods their own addresses, Services and DNS (false: pods share the host's network)")
	f.StringVar(&o.NodeName, "node-name", "", "name of this machine's node (default: the hostname)")
	f.StringVar(&o.VolumesDir, "volumes-dir", "", "folder of the local-path PersistentVolumes (default: the data dir's volumes/)")
	f.IntVar(&o.KubeletPort, "kubelet-port", o.KubeletPort, "port of the node's kubelet API (logs, exec, port-forward)")
	f.IntVar(&o.MetricsPort, "metrics-port", o.MetricsPort, "port of metrics-server (the metrics.k8s.io API behind kubectl top), on the pod network's gateway or the node's address")
	f.BoolVar(&o.WriteKubeconfig, "write-kubeconfig", o.WriteKubeconfig, "merge a \"skiff\" context into ~/.kube/config and select it")
	f.BoolVar(&o.MLControllers, "ml-controllers", o.MLControllers, "run the controllers of the ML kinds (ModelService) and install their CRDs (false: a plain cluster, for skiff operator or deploy/)")
	f.IntVar(&o.GatewayPort, "gateway-port", o.GatewayPort, "port of the default Gateway (skiff-system/skiff), where ModelServices' URLs point; 0: no gateway")
	f.StringVar(&o.GatewayAddress, "gateway-address", o.GatewayAddress, "address the default Gateway listens on (0.0.0.0: every interface)")
	f.IntVar(&o.GatewayMetricsPort, "gateway-metrics-port", o.GatewayMetricsPort, "loopback port of the gateway's Prometheus metrics (per route and backend)")
	f.BoolVarP(&opts.Detach, "detach", "d", false, "run in the background; return once the API is ready")
	f.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "with --detach, how long to wait for the API")
	f.StringVar(&opts.PprofAddress, "pprof-address", "", "serve Go's profiles (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060")
	_ = f.MarkHidden("pprof-address")
	_ = f.SetAnnotation("detach", parentOnly, []string{"true"}) // names a flag defined above: cannot fail
	_ = f.SetAnnotation("timeout", parentOnly, []string{"true"})
	return cmd
}

// childFlags are the flags a detached child runs with: every flag the user
// set (the command's own and the global ones), as they set it, so that a
// new flag reaches the child without a list to keep; not the parent's own
// flags, nor the data dir, which the child gets resolved.
func childFlags(cmd *cobra.Command) []string {
	var args []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "data-dir" || f.Annotations[parentOnly] != nil {
			return
		}
		if s, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range s.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args
}

func upRun(opts *UpOptions) error {
	opts.Cluster.DataDir = opts.g.dataDir
	opts.Cluster.Verbosity = opts.g.verbosity
	if err := opts.Cluster.Validate(); err != nil {
		return err
	}
	if opts.Detach {
		return upDetached(opts)
	}
	return upForeground(opts)
}

// stopSignals end skiff up cleanly: Ctrl-C, kill, and a closed terminal.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

func upForeground(opts *UpOptions) error {
	notify := instance.NotifierFromEnv()
	defer notify.Close()
	report := opts.g.reporter(notify.Report)
	start := time.Now()
	ctx, cancel := context.WithCancel(opts.ctx)
	defer cancel()
	defer keepWritingThroughBrokenPipes()()
	if opts.PprofAddress != "" {
		stopProfiles, err := serveProfiles(opts.PprofAddress)
		if err != nil {
			return err
		}
		defer stopProfiles()
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals...)
	defer signal.Stop(sigs)
	result := make(chan error, 1)
	go func() {
		result <- server.Run(ctx, opts.Cluster, report, func(st instance.State) {
			report.Info("skiff is ready in %.1fs: API %s, kubeconfig %s", time.Since(start).Seconds(), st.APIServer, st.Kubeconfig)
			notify.Ready()
		})
	}()
	err := waitForStop(result, sigs, cancel, report)
	if err != nil {
		notify.Failed(err)
		return err
	}
	report.Info("stopped")
	return nil
}

// waitForStop waits for the server to end, asking it to stop at the first
// signal. Later signals do not cut the stop short: a skiff that exits
// before it has stopped leaves pods, links and rules behind.
func waitForStop(result <-chan error, sigs <-chan os.Signal, stop func(), report *progress.Reporter) error {
	stopping := false
	for {
		select {
		case err := <-result:
			return err
		case sig := <-sigs:
			if !stopping {
				report.Info("shutting down on %v", sig)
				stop()
				stopping = true
				continue
			}
			report.Warn("already shutting down on %v; pods are being stopped and the network removed (kill -9 exits at once, and the next skiff up cleans up)", sig)
		}
	}
}

// keepWritingThroughBrokenPipes makes a write to a stdout or stderr whose
// reader is gone (make run | tee, and tee died) fail with EPIPE instead of
// killing skiff with SIGPIPE before it could clean up. Notify rather than
// Ignore, so that pods' processes still start with SIGPIPE's default.
func keepWritingThroughBrokenPipes() (undo func()) {
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-pipes:
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(pipes)
		close(done)
	}
}

func upDetached(opts *UpOptions) error {
	layout, err := opts.Cluster.Layout()
	if err != nil {
		return err
	}
	if err := layout.Prepare(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the skiff binary to run in the background: %w", err)
	}
	start := time.Now()
	args := append([]string{"up", "--detach=false", "--data-dir", layout.Root}, opts.ChildFlags...)
	st, err := instance.StartDetached(layout, exe, args, opts.g.reporter(), opts.Timeout)
	if err != nil {
		return err
	}
	out := opts.g.stdout
	fmt.Fprintf(out, "skiff is running in the background (pid %d), ready in %.1fs\n", st.PID, time.Since(start).Seconds())
	fmt.Fprintf(out, "  API:        %s\n  kubeconfig: %s\n  logs:       %s\n  stop with:  skiff down --data-dir %s\n",
		st.APIServer, st.Kubeconfig, layout.LogFile, layout.Root)
	return nil
}
