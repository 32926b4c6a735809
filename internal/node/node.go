package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/gpu"
	"github.com/skiff-dev/skiff/internal/node/runtime"
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
	DataDir    string // for the ephemeral-storage capacity
	Version    string // reported as the kubelet version
	// Sandboxes runs each container in its own namespaces and root; else
	// containers are plain process groups on the host.
	Sandboxes bool
	// Cgroups enforces each container's CPU, memory and pid limits.
	Cgroups bool
	// Network, when set, gives pods their own network (needs Sandboxes);
	// DNS is then their resolv.conf.
	Network runtime.PodNetwork
	DNS     runtime.DNS
	// Progress receives one short line per notable step, for people.
	Progress func(format string, args ...any)
}

// podQueueLimiter paces the node's pod queues as the control plane's
// clients are paced (500 per second, bursts of 1000), with the usual
// per-pod back-off for retries.
func podQueueLimiter() workqueue.TypedRateLimiter[any] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[any](5*time.Millisecond, 30*time.Second),
		&workqueue.TypedBucketRateLimiter[any]{Limiter: rate.NewLimiter(rate.Limit(500), 1000)},
	)
}

// Node is a running node agent.
type Node struct {
	cfg     Config
	runtime *runtime.Runtime
	vk      *nodeutil.Node
	events  record.EventBroadcaster
	client  kubernetes.Interface
	history *history
}

// New prepares the node agent; Run starts it.
func New(cfg Config) (*Node, error) {
	rest, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("node kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rest.QPS, rest.Burst = 200, 400
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, err
	}
	// Processes a crashed skiff left behind are killed before syncing, so
	// every pod the API holds runs exactly once.
	// Per instance, so two skiffs on one machine never clean each other's.
	id := datadir.InstanceID(cfg.DataDir)
	memoryRoot := filepath.Join(memoryVolumeRoot, id)
	cgtree := cgroups.ForInstance(id)
	killed, err := runtime.CleanOrphans(cfg.PodsDir, memoryRoot)
	if err != nil {
		return nil, fmt.Errorf("cleaning pods left by an earlier skiff: %w", err)
	}
	if killed > 0 && cfg.Progress != nil {
		cfg.Progress("stopped %d container process group(s) left by an earlier skiff; their pods restart", killed)
	}
	rt, err := runtime.New(cfg.PodsDir, cfg.InternalIP.String())
	if err != nil {
		return nil, err
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	gpus, err := gpu.Detect(context.Background())
	if err != nil {
		// A broken driver must not keep the node from serving CPU pods.
		progress("warning: no GPUs offered: %v", err)
	} else if len(gpus) > 0 {
		progress("offering %d GPU(s) as %s: %s", len(gpus), gpu.Resource, gpus[0].Name)
	}
	rt.SetGPUs(gpu.NewAllocator(gpus))
	spec, err := nodeObject(cfg, len(gpus))
	if err != nil {
		return nil, err
	}
	auth, err := nodeutil.WebhookAuth(client, cfg.Name, func(c *nodeutil.WebhookAuthConfig) error {
		ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", cfg.CAFile)
		if err != nil {
			return fmt.Errorf("kubelet client CA: %w", err)
		}
		c.AuthnConfig.ClientCertificateCAContentProvider = ca
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kubelet API authentication: %w", err)
	}
	imageFile := filepath.Join(cfg.DataDir, "images.yaml")
	imgs, err := newImageMap(imageFile, progress)
	if err != nil {
		return nil, fmt.Errorf("%w (fix or move %s)", err, imageFile)
	}
	rt.SetImageLookup(imgs.lookup)
	rt.AddScratchRoot(memoryRoot)
	if cfg.Cgroups {
		if n, err := sweepCgroups(cgtree); err != nil {
			return nil, fmt.Errorf("cleaning cgroups left by an earlier skiff: %w", err)
		} else if n > 0 && cfg.Progress != nil {
			cfg.Progress("stopped %d process(es) left in skiff's cgroups by an earlier skiff", n)
		}
		rt.UseCgroups(cgtree)
	}
	if cfg.Sandboxes {
		// The running binary, even if the file was replaced since.
		rt.UseSandboxes("/proc/self/exe")
		rt.MaskPaths(cfg.DataDir)
		if cfg.Network != nil {
			rt.UseNetwork(cfg.Network, cfg.DNS)
		}
	}
	events := record.NewBroadcaster()
	recorder := events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.Name})
	rt.SetRecorder(func(pod *corev1.Pod, eventType, reason, message string) {
		recorder.Event(pod, eventType, reason, message)
	})
	mux := http.NewServeMux()
	// The node's own metrics, on the kubelet API port as a kubelet's
	// /metrics (kubectl get --raw /api/v1/nodes/<node>/proxy/metrics).
	registry := prometheus.NewRegistry()
	rt.NewMetrics(registry)
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	hist := newHistory(historyWindow)
	mux.Handle(UsagePath, hist)
	n := &Node{cfg: cfg, runtime: rt, events: events, client: client, history: hist}
	vk, err := nodeutil.NewNode(cfg.Name,
		func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
			vols := &volumes{client: client, configMaps: pc.ConfigMaps, secrets: pc.Secrets, memoryRoot: memoryRoot,
				allocatable: spec.Status.Allocatable}
			rt.SetVolumePreparer(vols.prepare)
			return &provider{rt: rt, pods: pc.Pods, allocatable: spec.Status.Allocatable, stats: newStats(cfg.Name, rt.Usage)}, nil, nil
		},
		nodeutil.WithClient(client),
		func(c *nodeutil.NodeConfig) error {
			c.NodeSpec = *spec
			c.EventRecorder = recorder
			c.HTTPListenAddr = net.JoinHostPort(cfg.InternalIP.String(), strconv.Itoa(cfg.Port))
			c.Handler = nodeutil.WithAuth(auth, mux)
			c.NumWorkers = 10
			c.StreamIdleTimeout = 4 * time.Hour
			c.StreamCreationTimeout = 30 * time.Second
			return nil
		},
		nodeutil.WithTLSConfig(nodeutil.WithKeyPairFromPath(cfg.CertFile, cfg.KeyFile), func(t *tls.Config) error {
			// The authenticator verifies client certificates against the CA.
			t.ClientAuth = tls.RequestClientCert
			return nil
		}),
		nodeutil.AttachProviderRoutes(mux),
		nodeutil.WithPodControllerConfigOverrides(func(c *node.PodControllerConfig) error {
			// The library's default (client-go's controller limiter: 10
			// per second after a burst of 100, shared by all pods) held a
			// burst of short Job pods' status updates back for tens of
			// seconds. Retries still back off per pod.
			c.SyncPodsFromKubernetesRateLimiter = podQueueLimiter()
			c.DeletePodsFromKubernetesRateLimiter = podQueueLimiter()
			c.SyncPodStatusFromProviderRateLimiter = podQueueLimiter()
			return nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("creating node %s: %w", cfg.Name, err)
	}
	n.vk = vk
	return n, nil
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
	id := datadir.InstanceID(dataDir)
	_, err := runtime.CleanOrphans(podsDir, filepath.Join(memoryVolumeRoot, id))
	if ok, _ := cgroups.Available(); ok {
		_, cgErr := sweepCgroups(cgroups.ForInstance(id))
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
		// Pods are gone; drop skiff's parent cgroup too.
		_, _ = cgroups.ForInstance(datadir.InstanceID(n.cfg.DataDir)).CleanAll()
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("node %s: %w", n.cfg.Name, err)
	}
	return nil
}
