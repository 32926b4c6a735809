package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/gpu"
	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/node/podruntime"
	"github.com/skiff-dev/skiff/internal/progress"
)

// memoryVolumeRoot holds, per skiff instance, the tmpfs mounts of emptyDir
// volumes with medium Memory (outside the data dir, which sandboxes mask).
const memoryVolumeRoot = "/dev/shm/skiff-volumes"

// DefaultPort is the kubelet API port.
const DefaultPort = 10250

// Config says how the node registers and serves.
type Config struct {
	Name       string
	InternalIP net.IP
	Port       int    // kubelet API port
	Kubeconfig string // the node's own identity (system:node:<Name>)
	CAFile     string // cluster CA: verifies API server client certificates
	CertFile   string // kubelet serving certificate
	KeyFile    string
	PodsDir    string // per-pod state and logs
	DataDir    string // for the ephemeral-storage capacity; hidden from pods
	// Hidden are more host folders no pod sees but through a volume
	// (the local-path volumes' folder, when it is not in DataDir).
	Hidden []string
	// BuiltinImages are images the node knows without images.yaml
	// (skiff's own image: this binary).
	BuiltinImages []images.Image
	// Self is the skiff binary that image maps' "skiff" commands run.
	Self    string
	Version string // reported as the kubelet version
	// Sandboxes runs each container in its own namespaces and root; else
	// containers are plain process groups on the host.
	Sandboxes bool
	// Cgroups enforces each container's CPU, memory and pid limits.
	Cgroups bool
	// Network, when set, gives pods their own network (needs Sandboxes);
	// DNS is then their resolv.conf.
	Network podruntime.PodNetwork
	DNS     podruntime.DNS
	// Progress receives one short line per notable step, for people; nil
	// says nothing.
	Progress *progress.Reporter
}

// Node is a running node agent.
type Node struct {
	cfg     Config
	inst    instance
	runtime *podruntime.Runtime
	vk      *nodeutil.Node
	events  record.EventBroadcaster
	client  kubernetes.Interface
	history *history
	images  *imageMap
	log     logr.Logger
}

// New prepares the node agent; Run starts it. ctx bounds the preparation
// (GPU detection) and gives the logger (logr.FromContextOrDiscard), not
// the node's life.
func New(ctx context.Context, cfg Config) (*Node, error) {
	log := logr.FromContextOrDiscard(ctx)
	client, err := newClient(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	inst := instanceOf(cfg.DataDir)
	if err := cleanAfterCrash(cfg, inst); err != nil {
		return nil, err
	}
	gpus := detectGPUs(ctx, cfg.Progress)
	spec, err := nodeObject(cfg, gpus.Count())
	if err != nil {
		return nil, err
	}
	events := record.NewBroadcaster()
	recorder := events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.Name})
	imgs, err := newImageMap(cfg.DataDir, cfg.Self, cfg.BuiltinImages, cfg.Progress)
	if err != nil {
		return nil, fmt.Errorf("%w (fix or move it)", err)
	}
	imgs.event = nodeEvents(recorder, cfg.Name)
	vols := newVolumes(client, inst.memoryRoot, spec.Status.Allocatable)
	rc := runtimeConfig(cfg, inst)
	rc.GPUs, rc.Images, rc.Volumes = gpus, imgs.lookup, vols.prepare
	rc.Recorder, rc.Logger = recordTo(recorder), log.WithName("podruntime")
	rc.Removed = removeFromAPI(client, log)
	rt, err := podruntime.New(rc)
	if err != nil {
		return nil, err
	}
	hist := newHistory(historyWindow)
	api, err := newKubeletAPI(cfg, client, rt, hist)
	if err != nil {
		return nil, err
	}
	vk, err := newVirtualNode(cfg, client, spec, recorder, api,
		func(pc nodeutil.ProviderConfig) (nodeutil.Provider, vknode.NodeProvider, error) {
			vols.useListers(pc.ConfigMaps, pc.Secrets)
			return &provider{rt: rt, pods: pc.Pods, allocatable: spec.Status.Allocatable, stats: newStats(cfg.Name, rt.Usage)}, nil, nil
		})
	if err != nil {
		return nil, err
	}
	return &Node{cfg: cfg, inst: inst, runtime: rt, vk: vk, events: events, client: client, history: hist, images: imgs, log: log}, nil
}

// newClient is the node's own client, paced for bursts of pod status
// updates (client-go's default allows 5 requests per second).
func newClient(kubeconfig string) (kubernetes.Interface, error) {
	rest, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("node kubeconfig %s: %w", kubeconfig, err)
	}
	rest.QPS, rest.Burst = 200, 400
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, fmt.Errorf("node client: %w", err)
	}
	return client, nil
}

// instance is what one skiff (one data dir) owns on the machine outside
// its data dir, so that two skiffs on one machine never clean each
// other's.
type instance struct {
	memoryRoot string // memory-backed volumes, per pod UID
	cgroups    cgroups.Tree
}

func instanceOf(dataDir string) instance {
	id := datadir.InstanceID(dataDir)
	return instance{memoryRoot: filepath.Join(memoryVolumeRoot, id), cgroups: cgroups.ForInstance(id)}
}

// cleanAfterCrash kills the processes a crashed skiff left behind before
// the node syncs, so that every pod the API holds runs exactly once.
func cleanAfterCrash(cfg Config, inst instance) error {
	killed, err := podruntime.CleanOrphans(cfg.PodsDir, inst.memoryRoot)
	if err != nil {
		return fmt.Errorf("cleaning pods left by an earlier skiff: %w", err)
	}
	if killed > 0 {
		cfg.Progress.Info("stopped %d container process group(s) left by an earlier skiff; their pods restart", killed)
	}
	if !cfg.Cgroups {
		return nil
	}
	n, err := sweepCgroups(inst.cgroups)
	if err != nil {
		return fmt.Errorf("cleaning cgroups left by an earlier skiff: %w", err)
	}
	if n > 0 {
		cfg.Progress.Info("stopped %d process(es) left in skiff's cgroups by an earlier skiff", n)
	}
	return nil
}

// detectGPUs offers the machine's NVIDIA GPUs. A broken driver must not
// keep the node from serving CPU pods, so it offers none then.
func detectGPUs(ctx context.Context, report *progress.Reporter) *gpu.Allocator {
	gpus, err := gpu.Detect(ctx)
	if err != nil {
		report.Warn("no GPUs offered: %v", err)
		return gpu.NewAllocator(nil)
	}
	if len(gpus) > 0 {
		report.Info("offering %d GPU(s) as %s: %s", len(gpus), gpu.Resource, gpus[0].Name)
	}
	return gpu.NewAllocator(gpus)
}

// runtimeConfig is the pod runtime's part of cfg: where pods live and what
// isolates them. New adds what it builds (GPUs, images, volumes, events).
func runtimeConfig(cfg Config, inst instance) podruntime.Config {
	rc := podruntime.Config{
		PodsDir:      cfg.PodsDir,
		HostIP:       cfg.InternalIP.String(),
		ScratchRoots: []string{inst.memoryRoot},
	}
	if cfg.Cgroups {
		rc.Cgroups = &inst.cgroups
	}
	if cfg.Sandboxes {
		// The running binary, even if the file was replaced since.
		rc.SandboxBinary = "/proc/self/exe"
		rc.MaskedPaths = append([]string{cfg.DataDir}, cfg.Hidden...)
		if cfg.Network != nil {
			rc.Network, rc.DNS = cfg.Network, cfg.DNS
		}
	}
	return rc
}

// recordTo sends the runtime's pod events to the API server as the
// kubelet's.
func recordTo(recorder record.EventRecorder) podruntime.Recorder {
	return func(pod *corev1.Pod, eventType, reason, message string) {
		recorder.Event(pod, eventType, reason, message)
	}
}

// nodeEvents records events on the Node, as the kubelet does (its
// events' UID is the node's name).
func nodeEvents(recorder record.EventRecorder, name string) func(eventType, reason, message string) {
	ref := &corev1.ObjectReference{Kind: "Node", Name: name, UID: types.UID(name)}
	return func(eventType, reason, message string) {
		recorder.Event(ref, eventType, reason, message)
	}
}

// sweepCgroups kills what a crashed skiff left in its cgroups and removes
// them. A container whose start was under way when skiff died may exec its
// command just after a sweep, so it sweeps until the tree is gone.
func sweepCgroups(tree cgroups.Tree) (int, error) {
	killed := 0
	var err error
	for range 10 {
		var n int
		n, err = tree.CleanAll()
		killed += n
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return killed, err
}

// Cleanup removes what a crashed node on dataDir left: pod processes,
// their mounts and memory volumes, and cgroups. Run it only while no
// skiff holds the data dir.
func Cleanup(dataDir, podsDir string) error {
	inst := instanceOf(dataDir)
	_, err := podruntime.CleanOrphans(podsDir, inst.memoryRoot)
	if ok, _ := cgroups.Available(); ok {
		_, cgErr := sweepCgroups(inst.cgroups)
		err = errors.Join(err, cgErr)
	}
	return err
}

// Run registers the node and syncs pods until ctx ends; ready is called
// once the node is registered and Ready. On the way out every pod process is
// stopped.
func (n *Node) Run(ctx context.Context, ready func()) error {
	n.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: n.client.CoreV1().Events("")})
	defer n.events.Shutdown()
	errc := make(chan error, 1)
	go func() { errc <- n.vk.Run(ctx) }()
	go n.history.run(ctx, historyPeriod, n.runtime.Usage)
	go n.images.watch(ctx, imageMapPeriod)
	select {
	case <-n.vk.Ready():
		if ready != nil {
			ready()
		}
	case err := <-errc:
		n.runtime.Shutdown(10 * time.Second)
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	err := <-errc
	n.runtime.Shutdown(10 * time.Second)
	if n.cfg.Cgroups {
		// Pods are gone; drop skiff's parent cgroup too. What is left
		// is swept by the next start (or skiff cleanup).
		if _, err := n.inst.cgroups.CleanAll(); err != nil {
			n.log.Error(err, "Removing skiff's cgroups", "tree", n.inst.cgroups.Root())
		}
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	return nil
}
