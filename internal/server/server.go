// Package server runs skiff in the foreground: it prepares the data dir,
// takes its lock, and runs the control plane until the context ends.
package server

import (
	"context"
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
	if err := cluster.EnsurePKI(layout, bind, advertise, o.ServiceCIDR, nodeName); err != nil {
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

	cp := &controlplane.Config{
		Layout:           layout,
		BindAddress:      bind,
		AdvertiseAddress: advertise,
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

	progress("starting node %s (kubelet API on %s:%d)", nodeName, advertise, o.KubeletPort)
	nodeCtx, nodeCancel := context.WithCancel(ctx)
	defer nodeCancel()
	nodeDone := make(chan error, 1)
	nodeReady := make(chan struct{})
	go func() {
		nodeDone <- runNode(nodeCtx, layout, nodeKubeconfig, nodeName, advertise, o.KubeletPort, progress, func() { close(nodeReady) })
	}()
	var runErr error
	select {
	case <-nodeReady:
		markReady(layout, o, cp.APIServerURL(), started, progress, ready)
		select {
		case <-ctx.Done():
		case runErr = <-nodeDone:
			nodeDone <- runErr
		case runErr = <-cpDone:
			cpDone <- runErr
		}
	case runErr = <-nodeDone:
		nodeDone <- runErr
	case runErr = <-cpDone:
		cpDone <- runErr
	case <-ctx.Done():
	}
	nodeCancel()
	if err := <-nodeDone; err != nil && runErr == nil {
		runErr = err
	}
	progress("node %s stopped", nodeName)
	cpCancel()
	if err := <-cpDone; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func runNode(ctx context.Context, layout datadir.Layout, kubeconfig, name string, ip net.IP, port int, progress func(string, ...any), ready func()) error {
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
	n, err := node.New(node.Config{
		Name:       name,
		InternalIP: ip,
		Port:       port,
		Kubeconfig: kubeconfig,
		CAFile:     layout.PKI.CACert,
		CertFile:   layout.PKI.KubeletCert,
		KeyFile:    layout.PKI.KubeletKey,
		PodsDir:    filepath.Join(layout.Root, "pods"),
		DataDir:    layout.Root,
		Version:    instance.CurrentVersions().Kubernetes,
		Sandboxes:  sandboxes,
		Cgroups:    limits,
		Progress:   progress,
	})
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
