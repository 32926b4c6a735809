// Package server runs skiff in the foreground: it prepares the data dir,
// takes its lock, and runs the control plane until the context ends.
package server

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/controlplane"
	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/instance"
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
	bind := net.ParseIP(o.BindAddress)
	if err := cluster.EnsurePKI(layout, bind, advertise, o.ServiceCIDR); err != nil {
		return err
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
	defer instance.RemoveState(layout)
	return cp.Run(ctx, func() {
		st := instance.State{
			PID:        os.Getpid(),
			APIServer:  cp.APIServerURL(),
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
			if path, err := o.MergeUserKubeconfig(layout, cp.APIServerURL()); err != nil {
				progress("warning: %v", err)
			} else {
				progress("merged context \"skiff\" into %s", path)
			}
		}
		if ready != nil {
			ready(st)
		}
	})
}
