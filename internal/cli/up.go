package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/server"
)

func newUpCommand(g *globals) *cobra.Command {
	o := cluster.Defaults()
	var detach bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the cluster (in the foreground, or in the background with --detach)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.DataDir = g.dataDir
			if err := o.Validate(); err != nil {
				return err
			}
			if detach {
				return upDetached(g, o, timeout)
			}
			return upForeground(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.APIPort, "api-port", o.APIPort, "port of the Kubernetes API server")
	f.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "address the API server listens on")
	f.StringVar(&o.AdvertiseAddress, "advertise-address", "", "address the API server advertises as the kubernetes Service endpoint (default: this machine's main IPv4 address)")
	f.IntVar(&o.EtcdPort, "etcd-port", o.EtcdPort, "loopback port of embedded etcd (it also uses the next one)")
	f.StringVar(&o.ServiceCIDR, "service-cidr", o.ServiceCIDR, "IP range of ClusterIP Services")
	f.StringVar(&o.PodCIDR, "pod-cidr", o.PodCIDR, "IP range pods get their addresses from (the node's bridge takes the first)")
	f.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "DNS domain of Services and pods")
	f.BoolVar(&o.PodNetwork, "pod-network", o.PodNetwork, "give pods their own addresses, Services and DNS (false: pods share the host's network)")
	f.StringVar(&o.NodeName, "node-name", "", "name of this machine's node (default: the hostname)")
	f.IntVar(&o.KubeletPort, "kubelet-port", o.KubeletPort, "port of the node's kubelet API (logs, exec, port-forward)")
	f.IntVar(&o.MetricsPort, "metrics-port", o.MetricsPort, "port of metrics-server (the metrics.k8s.io API behind kubectl top), on the pod network's gateway or the node's address")
	f.BoolVar(&o.WriteKubeconfig, "write-kubeconfig", o.WriteKubeconfig, "merge a \"skiff\" context into ~/.kube/config and select it")
	f.BoolVarP(&detach, "detach", "d", false, "run in the background; return once the API is ready")
	f.DurationVar(&timeout, "timeout", 3*time.Minute, "with --detach, how long to wait for the API")
	return cmd
}

func upForeground(ctx context.Context, g *globals, o cluster.Options) error {
	notify := instance.NotifierFromEnv()
	defer notify.Close()
	start := time.Now()
	progress := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		fmt.Fprintf(g.stderr, "%s %s\n", time.Now().Format("15:04:05.000"), msg)
		notify.Progress(msg)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	result := make(chan error, 1)
	go func() {
		result <- server.Run(ctx, o, progress, func(st instance.State) {
			progress("skiff is ready in %.1fs: API %s, kubeconfig %s", time.Since(start).Seconds(), st.APIServer, st.Kubeconfig)
			notify.Ready()
		})
	}()
	var err error
	select {
	case err = <-result:
	case <-sigs:
		progress("shutting down (send the signal again to exit at once)")
		cancel()
		select {
		case err = <-result:
		case <-sigs:
			return errors.New("interrupted twice: exited without a clean stop; the next skiff up recovers")
		}
	}
	if err != nil {
		notify.Failed(err)
		return err
	}
	progress("stopped")
	return nil
}

func upDetached(g *globals, o cluster.Options, timeout time.Duration) error {
	layout, err := o.Layout()
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
	args := []string{
		"up", "--detach=false",
		"--data-dir", layout.Root,
		"--api-port", strconv.Itoa(o.APIPort),
		"--bind-address", o.BindAddress,
		"--etcd-port", strconv.Itoa(o.EtcdPort),
		"--service-cidr", o.ServiceCIDR,
		"--pod-cidr", o.PodCIDR,
		"--cluster-domain", o.ClusterDomain,
		"--pod-network=" + strconv.FormatBool(o.PodNetwork),
		"--kubelet-port", strconv.Itoa(o.KubeletPort),
		"--metrics-port", strconv.Itoa(o.MetricsPort),
		"--write-kubeconfig=" + strconv.FormatBool(o.WriteKubeconfig),
	}
	if o.AdvertiseAddress != "" {
		args = append(args, "--advertise-address", o.AdvertiseAddress)
	}
	if o.NodeName != "" {
		args = append(args, "--node-name", o.NodeName)
	}
	start := time.Now()
	st, err := instance.StartDetached(layout, exe, args, g.stderr, timeout)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "skiff is running in the background (pid %d), ready in %.1fs\n", st.PID, time.Since(start).Seconds())
	fmt.Fprintf(g.stdout, "  API:        %s\n  kubeconfig: %s\n  logs:       %s\n  stop with:  skiff down --data-dir %s\n",
		st.APIServer, st.Kubeconfig, layout.LogFile, layout.Root)
	return nil
}
