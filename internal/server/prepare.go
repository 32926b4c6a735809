package server

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/controlplane"
	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/progress"
)

// house is a prepared instance: its data dir locked, certificates and
// kubeconfigs written, the pod network set up; what the stages run on.
type house struct {
	o              cluster.Options
	layout         datadir.Layout
	report         *progress.Reporter
	advertise      net.IP // the node's address
	nodeName       string
	net            *podNetwork // nil: pods share the host's network
	cp             *controlplane.Config
	client         kubernetes.Interface // admin client for cluster services
	rest           *rest.Config         // the admin client's config
	nodeKubeconfig string
	logFile        *os.File
	// undo are the steps that reverse what prepare did, last first.
	undo []func()
}

// prepare checks o and readies everything the stages need; on error,
// what it did is undone.
func prepare(o cluster.Options, report *progress.Reporter) (_ *house, err error) {
	h := &house{o: o, report: report}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if h.layout, err = o.Layout(); err != nil {
		return nil, err
	}
	if err := h.layout.Prepare(); err != nil {
		return nil, err
	}
	lock, err := datadir.Acquire(h.layout)
	if err != nil {
		return nil, err
	}
	h.undo = append(h.undo, func() { lock.Release() })
	if err := cluster.CheckPorts(o); err != nil {
		return nil, err
	}
	if h.advertise, err = o.AdvertiseIP(); err != nil {
		return nil, err
	}
	if h.nodeName, err = o.NodeNameOrHost(); err != nil {
		return nil, err
	}
	if err := h.ensurePKI(); err != nil {
		return nil, err
	}
	// A broken image map is refused before anything starts.
	if _, err := images.LoadAll(h.layout.Root, ""); err != nil {
		return nil, fmt.Errorf("%w (fix or move it; the map is in %s)", err, h.layout.Root)
	}
	// The drop-in folder exists, so a project's map can be linked into it.
	if err := os.MkdirAll(filepath.Join(h.layout.Root, images.DropInDir), 0o755); err != nil {
		return nil, fmt.Errorf("creating the image map folder: %w", err)
	}
	if h.logFile, err = cluster.OpenComponentLog(h.layout); err != nil {
		return nil, err
	}
	h.undo = append(h.undo, func() {
		klog.Flush() // klog writes here (withLogger): its last lines first
		h.logFile.Close()
	})
	if h.net, err = setupNetwork(h.layout, o, report); err != nil {
		return nil, err
	}
	if h.net != nil {
		h.undo = append(h.undo, func() {
			if err := h.net.close(); err != nil {
				report.Warn("removing the pod network: %v", err)
			}
		})
	}
	h.cp = h.controlPlaneConfig()
	if err := h.writeKubeconfigs(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *house) ensurePKI() error {
	bind := net.ParseIP(h.o.BindAddress)
	var extraSANs []net.IP
	if h.o.PodNetwork {
		extraSANs = append(extraSANs, gatewayOf(h.o.PodCIDR)) // pods reach the API there
	}
	return cluster.EnsurePKI(h.layout, bind, h.advertise, h.o.ServiceCIDR, h.o.ClusterDomain, h.nodeName, extraSANs...)
}

// controlPlaneConfig advertises the node's address as the kubernetes
// Service's endpoint or, with a pod network, the gateway, where the API
// also listens for pods.
func (h *house) controlPlaneConfig() *controlplane.Config {
	bind := net.ParseIP(h.o.BindAddress)
	apiAdvertise, alsoListen := h.advertise, []net.IP(nil)
	if h.net != nil {
		apiAdvertise = net.IP(h.net.Gateway().AsSlice())
		if !bind.IsUnspecified() {
			alsoListen = []net.IP{apiAdvertise}
		}
	}
	return &controlplane.Config{
		Layout:           h.layout,
		BindAddress:      bind,
		AdvertiseAddress: apiAdvertise,
		AlsoListen:       alsoListen,
		APIPort:          h.o.APIPort,
		EtcdPort:         h.o.EtcdPort,
		ServiceCIDR:      h.o.ServiceCIDR,
		ClusterDomain:    h.o.ClusterDomain,
		Verbosity:        h.o.Verbosity,
		LogOutput:        h.logFile,
		Progress:         h.report,
	}
}

// writeKubeconfigs writes the admin's and the node's kubeconfigs and
// builds the admin client; the state file they lead to goes at close.
func (h *house) writeKubeconfigs() error {
	if err := cluster.WriteAdminKubeconfig(h.layout, h.cp.APIServerURL()); err != nil {
		return err
	}
	var err error
	if h.nodeKubeconfig, err = cluster.WriteNodeKubeconfig(h.layout, h.cp.APIServerURL()); err != nil {
		return err
	}
	h.undo = append(h.undo, func() { instance.RemoveState(h.layout) })
	if h.rest, err = clientcmd.BuildConfigFromFlags("", h.layout.Kubeconfig); err != nil {
		return fmt.Errorf("admin kubeconfig %s: %w", h.layout.Kubeconfig, err)
	}
	h.client, err = kubernetes.NewForConfig(h.rest)
	return err
}

// close undoes prepare, last step first.
func (h *house) close() {
	for i := len(h.undo) - 1; i >= 0; i-- {
		h.undo[i]()
	}
	h.undo = nil
}

// withLogger sends the process's logs (skiff's own through logr, and the
// upstream components' through klog) to the component log at the
// verbosity asked for, so that the terminal shows only progress.
func (h *house) withLogger(ctx context.Context) context.Context {
	var fs flag.FlagSet
	klog.InitFlags(&fs)
	// Values klog's own flags accept: these cannot fail.
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("v", strconv.Itoa(h.o.Verbosity))
	klog.SetOutput(h.logFile)
	return klog.NewContext(ctx, klog.Background())
}

// markReady records the running instance, merges the kubeconfig and tells
// the caller.
func (h *house) markReady(started time.Time, ready func(instance.State)) {
	st := instance.State{
		PID:        os.Getpid(),
		APIServer:  h.cp.APIServerURL(),
		Kubeconfig: h.layout.Kubeconfig,
		DataDir:    h.layout.Root,
		StartedAt:  started,
		ReadyAt:    time.Now(),
		Versions:   instance.CurrentVersions(),
	}
	if err := instance.WriteState(h.layout, st); err != nil {
		h.report.Warn("recording state: %v", err)
	}
	if h.o.WriteKubeconfig {
		if path, err := h.o.MergeUserKubeconfig(h.layout, st.APIServer); err != nil {
			h.report.Warn("%v", err)
		} else {
			h.report.Info("merged context \"skiff\" into %s", path)
		}
	}
	if ready != nil {
		ready(st)
	}
}

func podsDir(layout datadir.Layout) string { return filepath.Join(layout.Root, "pods") }
