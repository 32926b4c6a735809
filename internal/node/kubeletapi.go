package node

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-dev/skiff/internal/node/podruntime"
)

// kubeletAPI is what the kubelet API port serves besides virtual-kubelet's
// own routes (logs, exec, stats), which it attaches to mux: the node's
// metrics and usage history, all behind auth.
type kubeletAPI struct {
	mux  *http.ServeMux
	auth nodeutil.Auth
	// running says why a container cannot take an exec or attach session.
	running func(namespace, pod, container string) error
}

func newKubeletAPI(cfg Config, client kubernetes.Interface, rt *podruntime.Runtime, hist *history) (kubeletAPI, error) {
	auth, err := kubeletAuth(cfg, client)
	if err != nil {
		return kubeletAPI{}, err
	}
	mux := http.NewServeMux()
	// The node's own metrics, as a kubelet's /metrics
	// (kubectl get --raw /api/v1/nodes/<node>/proxy/metrics).
	registry := prometheus.NewRegistry()
	rt.NewMetrics(registry)
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	mux.Handle(UsagePath, hist)
	return kubeletAPI{mux: mux, auth: auth, running: rt.CheckRunning}, nil
}

// kubeletAuth authenticates callers as a kubelet does: client
// certificates signed by the cluster CA, or bearer tokens the API server
// reviews; it authorizes them with SubjectAccessReviews.
func kubeletAuth(cfg Config, client kubernetes.Interface) (nodeutil.Auth, error) {
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
	return auth, nil
}

// newVirtualNode is the virtual-kubelet node: the node object and its
// lease, the pod controller that feeds the provider, and the kubelet API.
func newVirtualNode(cfg Config, client kubernetes.Interface, spec *corev1.Node, recorder record.EventRecorder, api kubeletAPI, newProvider nodeutil.NewProviderFunc) (*nodeutil.Node, error) {
	vk, err := nodeutil.NewNode(cfg.Name, newProvider,
		nodeutil.WithClient(client),
		func(c *nodeutil.NodeConfig) error {
			c.NodeSpec = *spec
			c.EventRecorder = recorder
			c.HTTPListenAddr = net.JoinHostPort(cfg.InternalIP.String(), strconv.Itoa(cfg.Port))
			c.Handler = nodeutil.WithAuth(api.auth, checkStreams(api.running, api.mux))
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
		nodeutil.AttachProviderRoutes(api.mux),
		nodeutil.WithPodControllerConfigOverrides(pacePodQueues, deferStatusFields),
	)
	if err != nil {
		return nil, fmt.Errorf("creating node %s: %w", cfg.Name, err)
	}
	return vk, nil
}

// pacePodQueues replaces the library's default queue limiter (client-go's
// controller limiter: 10 per second after a burst of 100, shared by all
// pods), which held a burst of short Job pods' status updates back for
// tens of seconds. Retries still back off per pod.
func pacePodQueues(c *vknode.PodControllerConfig) error {
	c.SyncPodsFromKubernetesRateLimiter = podQueueLimiter()
	c.DeletePodsFromKubernetesRateLimiter = podQueueLimiter()
	c.SyncPodStatusFromProviderRateLimiter = podQueueLimiter()
	return nil
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
