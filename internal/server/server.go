// Package server runs skiff in the foreground: it prepares the data dir,
// takes its lock, and runs the control plane until the context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/controlplane"
	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/node"
	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/node/runtime"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// Run brings the cluster up on o's data dir and keeps it running until ctx
// ends, then stops it in reverse order. progress gets one line per step;
// ready is called once the API answers, with the recorded state.
func Run(ctx context.Context, o cluster.Options, progress func(string, ...any), ready func(instance.State)) error {
	started := time.Now()
	if err := o.Validate(); err != nil {
		return err
	}
	layout, err := o.Layout()
	if err != nil {
		return err
	}
	if err := layout.Prepare(); err != nil {
		return err
	}
	lock, err := datadir.Acquire(layout)
	if err != nil {
		return err
	}
	defer lock.Release()
	if err := cluster.CheckPorts(o); err != nil {
		return err
	}
	advertise, err := o.AdvertiseIP()
	if err != nil {
		return err
	}
	nodeName, err := o.NodeNameOrHost()
	if err != nil {
		return err
	}
	bind := net.ParseIP(o.BindAddress)
	var extraSANs []net.IP
	if o.PodNetwork {
		extraSANs = append(extraSANs, gatewayOf(o.PodCIDR)) // pods reach the API there
	}
	if err := cluster.EnsurePKI(layout, bind, advertise, o.ServiceCIDR, nodeName, extraSANs...); err != nil {
		return err
	}
	// A broken image map is refused before anything starts.
	imageFile := filepath.Join(layout.Root, "images.yaml")
	if _, err := images.Load(imageFile); err != nil {
		return fmt.Errorf("%w (fix or move %s)", err, imageFile)
	}
	logFile, err := cluster.OpenComponentLog(layout)
	if err != nil {
		return err
	}
	defer logFile.Close()

	netHost, err := setupNetwork(layout, o, progress)
	if err != nil {
		return err
	}
	// The kubernetes Service's endpoint: the node's address, or with a
	// pod network the gateway, where the API also listens for pods.
	apiAdvertise, alsoListen := advertise, []net.IP(nil)
	if netHost != nil {
		defer func() {
			if err := netHost.close(); err != nil {
				progress("warning: removing the pod network: %v", err)
			}
		}()
		apiAdvertise = net.IP(netHost.Gateway().AsSlice())
		if !bind.IsUnspecified() {
			alsoListen = []net.IP{apiAdvertise}
		}
	}
	cp := &controlplane.Config{
		Layout:           layout,
		BindAddress:      bind,
		AdvertiseAddress: apiAdvertise,
		AlsoListen:       alsoListen,
		APIPort:          o.APIPort,
		EtcdPort:         o.EtcdPort,
		ServiceCIDR:      o.ServiceCIDR,
		LogOutput:        logFile,
		Progress:         progress,
	}
	if err := cluster.WriteAdminKubeconfig(layout, cp.APIServerURL()); err != nil {
		return err
	}
	nodeKubeconfig, err := cluster.WriteNodeKubeconfig(layout, cp.APIServerURL())
	if err != nil {
		return err
	}
	defer instance.RemoveState(layout)

	// The control plane outlives the node: it starts first and stops last,
	// so its context is cancelled only after the node has stopped its pods.
	cpCtx, cpCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cpCancel()
	cpReady := make(chan struct{})
	cpDone := make(chan error, 1)
	go func() { cpDone <- cp.Run(cpCtx, func() { close(cpReady) }) }()
	select {
	case <-cpReady:
	case err := <-cpDone:
		return err
	case <-ctx.Done():
		cpCancel()
		return <-cpDone
	}

	// Services, DNS and the metrics API start before the node, so that
	// its first pods resolve names, and stop after it.
	services, err := clusterServices(netHost, layout, o, nodeName, advertise)
	if err != nil {
		cpCancel()
		return errors.Join(err, <-cpDone)
	}
	netCtx, netCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer netCancel()
	netDone := make(chan error, 1)
	netReady := make(chan struct{})
	go func() {
		netDone <- runAll(netCtx, services, func() {
			if netHost != nil {
				progress("services: kube-proxy (nftables), cluster DNS at %s (%s), load balancers on %s", netHost.Gateway(), o.ClusterDomain, advertise)
			}
			close(netReady)
		})
	}()

	progress("starting node %s (kubelet API on %s:%d)", nodeName, advertise, o.KubeletPort)
	nodeCtx, nodeCancel := context.WithCancel(ctx)
	defer nodeCancel()
	nodeDone := make(chan error, 1)
	nodeReady := make(chan struct{})
	go func() {
		select {
		case <-netReady:
		case <-nodeCtx.Done():
			nodeDone <- nil
			return
		}
		var dns runtime.DNS
		if netHost != nil {
			dns = podDNS(netHost, o.ClusterDomain)
		}
		nodeDone <- runNode(nodeCtx, layout, nodeKubeconfig, nodeName, advertise, o.KubeletPort, netHost, dns, progress, func() { close(nodeReady) })
	}()
	var runErr error
	// The first component to end (or the caller) ends them all.
	select {
	case <-nodeReady:
		markReady(layout, o, cp.APIServerURL(), started, progress, ready)
		select {
		case <-ctx.Done():
		case runErr = <-nodeDone:
			nodeDone <- runErr
		case runErr = <-netDone:
			netDone <- runErr
		case runErr = <-cpDone:
			cpDone <- runErr
		}
	case runErr = <-nodeDone:
		nodeDone <- runErr
	case runErr = <-netDone:
		netDone <- runErr
	case runErr = <-cpDone:
		cpDone <- runErr
	case <-ctx.Done():
	}
	nodeCancel()
	if err := <-nodeDone; err != nil && runErr == nil {
		runErr = err
	}
	progress("node %s stopped", nodeName)
	netCancel()
	if err := <-netDone; err != nil && runErr == nil {
		runErr = err
	}
	cpCancel()
	if err := <-cpDone; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func runNode(ctx context.Context, layout datadir.Layout, kubeconfig, name string, ip net.IP, port int, netHost *podNetwork, dns runtime.DNS, progress func(string, ...any), ready func()) error {
	if err := node.EnsureRBAC(ctx, layout.Kubeconfig, name); err != nil {
		return fmt.Errorf("node permissions: %w", err)
	}
	sandboxes, why := sandbox.Available()
	if !sandboxes {
		progress("warning: %s, so pods run as plain processes: no private filesystem view, PID, IPC or hostname per pod", why)
	}
	limits, why := cgroups.Available()
	if !limits {
		progress("warning: %s, so container resource limits are not enforced", why)
	}
	cfg := node.Config{
		Name:       name,
		InternalIP: ip,
		Port:       port,
		Kubeconfig: kubeconfig,
		CAFile:     layout.PKI.CACert,
		CertFile:   layout.PKI.KubeletCert,
		KeyFile:    layout.PKI.KubeletKey,
		PodsDir:    podsDir(layout),
		DataDir:    layout.Root,
		Version:    instance.CurrentVersions().Kubernetes,
		Sandboxes:  sandboxes,
		Cgroups:    limits,
		DNS:        dns,
		Progress:   progress,
	}
	if netHost != nil {
		cfg.Network = netHost.Host
	}
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	return n.Run(ctx, ready)
}

// markReady records the running instance, merges the kubeconfig and tells
// the caller.
func markReady(layout datadir.Layout, o cluster.Options, server string, started time.Time, progress func(string, ...any), ready func(instance.State)) {
	st := instance.State{
		PID:        os.Getpid(),
		APIServer:  server,
		Kubeconfig: layout.Kubeconfig,
		DataDir:    layout.Root,
		StartedAt:  started,
		ReadyAt:    time.Now(),
		Versions:   instance.CurrentVersions(),
	}
	if err := instance.WriteState(layout, st); err != nil {
		progress("warning: recording state: %v", err)
	}
	if o.WriteKubeconfig {
		if path, err := o.MergeUserKubeconfig(layout, server); err != nil {
			progress("warning: %v", err)
		} else {
			progress("merged context \"skiff\" into %s", path)
		}
	}
	if ready != nil {
		ready(st)
	}
}

func podsDir(layout datadir.Layout) string { return filepath.Join(layout.Root, "pods") }
