package podruntime

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/gpu"
)

// Config says how a Runtime runs pods. PodsDir is required; every other
// field's zero value leaves its feature off. It is fixed once New returns:
// nothing a pod's containers were started with changes under them.
type Config struct {
	// Removed, when set, is told of each deleted pod once nothing of it
	// is left on the node (the kubelet then removes it from the API).
	Removed func(pod *corev1.Pod)
	// PodsDir holds one directory per pod (its state and logs); it is
	// created if missing.
	PodsDir string
	// HostIP is the node's address: every pod's hostIP, and its podIP
	// when it has no network of its own. Empty: not reported.
	HostIP string

	// SandboxBinary, when set, is the skiff binary that containers start
	// through to get their own namespaces and root (see package sandbox);
	// empty: containers are plain process groups on the host.
	SandboxBinary string
	// MaskedPaths are host directories (skiff's data dir) hidden from
	// every sandbox; PodsDir always is.
	MaskedPaths []string
	// Network, when set, gives every pod that is not hostNetwork its own
	// network namespace on it; it needs SandboxBinary.
	Network PodNetwork
	// DNS is the resolv.conf of pods on Network; it needs Network.
	DNS DNS

	// Cgroups, when set, gives every container its own cgroup in the
	// tree, with its limits.
	Cgroups *cgroups.Tree
	// GPUs are the node's GPUs; containers asking for nvidia.com/gpu get
	// whole devices from it. Nil: the node has none.
	GPUs *gpu.Allocator
	// Images says what an image reference maps to on this node; nil:
	// images map to nothing.
	Images ImageLookup
	// Volumes prepares pods' volumes; nil: pods with volumes never start
	// (their FailedMount events say why).
	Volumes VolumePreparer
	// ScratchRoots hold per-pod directories (named by pod UID) outside
	// PodsDir, such as memory-backed volumes; they go with the pod.
	ScratchRoots []string

	// Recorder receives the events a kubelet would record; nil: dropped.
	Recorder Recorder
	// Logger receives what no pod event can carry: cleanup that failed
	// after a pod was gone. The zero Logger discards.
	Logger logr.Logger

	// Tests shorten these; zero is upstream's (10s) and a minute.
	backoffInitial time.Duration
	volumeRefresh  time.Duration
}

// validate reports every field that cannot work, so that a node is never
// half set up: a misconfigured runtime would otherwise fail pod by pod.
func (c Config) validate() error {
	var errs []error
	if c.PodsDir == "" {
		errs = append(errs, errors.New("PodsDir is required"))
	}
	if c.HostIP != "" {
		if _, err := netip.ParseAddr(c.HostIP); err != nil {
			errs = append(errs, fmt.Errorf("HostIP: %w", err))
		}
	}
	if c.SandboxBinary != "" {
		if _, err := os.Stat(c.SandboxBinary); err != nil {
			errs = append(errs, fmt.Errorf("SandboxBinary: %w", err))
		}
	}
	if c.Network != nil && c.SandboxBinary == "" {
		errs = append(errs, errors.New("Network needs SandboxBinary: a pod's network namespace is its sandbox's"))
	}
	if c.DNS != (DNS{}) {
		errs = append(errs, c.DNS.validate(c.Network != nil))
	}
	errs = append(errs, absolute("MaskedPaths", c.MaskedPaths), absolute("ScratchRoots", c.ScratchRoots))
	return errors.Join(errs...)
}

func (d DNS) validate(network bool) error {
	if !network {
		return errors.New("DNS needs Network: only pods on the pod network get the cluster's resolv.conf")
	}
	if _, err := netip.ParseAddr(d.Nameserver); err != nil {
		return fmt.Errorf("DNS nameserver: %w", err)
	}
	return nil
}

// absolute checks that paths are absolute: they are compared with mount
// points and joined with pod UIDs.
func absolute(field string, paths []string) error {
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("%s: %q is not an absolute path", field, p)
		}
	}
	return nil
}
