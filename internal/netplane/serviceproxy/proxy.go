// Package serviceproxy runs the upstream kube-proxy, nftables mode, in
// skiff's process: Services' ClusterIPs, NodePorts and load-balancer
// addresses are forwarded by the kernel to Ready endpoints, as on any
// cluster. Like package controlplane it imports k8s.io/kubernetes.
package serviceproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/proxy/apis"
	kubeproxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxyconfig "k8s.io/kubernetes/pkg/proxy/config"
	"k8s.io/kubernetes/pkg/proxy/nftables"
	proxyutil "k8s.io/kubernetes/pkg/proxy/util"
	"k8s.io/utils/ptr"
)

// Config says which node the proxy serves.
type Config struct {
	Kubeconfig string // an identity that may watch Services and EndpointSlices
	NodeName   string
	NodeIP     net.IP
	PodCIDR    netip.Prefix
	// Claim is this skiff's hold on the table (see ClaimTable); Run
	// releases it.
	Claim *TableClaim
}

// resync is how often informers replay everything, and the longest time
// between full rule syncs (changes sync at once).
const resync = 15 * time.Minute

// minSync spaces rule syncs: endpoint changes (a pod turning unready)
// reach the kernel within it.
const minSync = 100 * time.Millisecond

// Run programs the claimed nftables table until ctx ends, then removes
// it and releases the claim. ready is called once the proxy runs.
func Run(ctx context.Context, cfg Config, ready func()) error {
	claim := cfg.Claim
	defer claim.Release()

	rest, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("service proxy kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return err
	}
	// Localhost NodePorts are served by upstream's userspace proxy
	// (alpha), so `curl localhost:<nodePort>` works as with iptables.
	if err := utilfeature.DefaultMutableFeatureGate.Set(string(features.KubeProxyNFTablesLocalhostNodePorts) + "=true"); err != nil {
		return fmt.Errorf("kube-proxy feature gates: %w", err)
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	broadcaster.StartRecordingToSink(ctx.Done())
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, "kube-proxy")

	config := &kubeproxyconfig.KubeProxyConfiguration{
		Mode:              kubeproxyconfig.ProxyModeNFTables,
		SyncPeriod:        metav1.Duration{Duration: resync},
		MinSyncPeriod:     metav1.Duration{Duration: minSync},
		NodePortAddresses: []string{"127.0.0.0/8", "0.0.0.0/0"},
		NFTables:          kubeproxyconfig.KubeProxyNFTablesConfiguration{MasqueradeBit: ptr.To(int32(14))},
	}
	detector := proxyutil.NewDetectLocalByCIDR(cfg.PodCIDR.Masked().String())
	proxier, err := nftables.NewProxier(ctx, config, corev1.IPv4Protocol, detector, cfg.NodeName, cfg.NodeIP, recorder, nil, false)
	if err != nil {
		return fmt.Errorf("starting kube-proxy (nftables): %w", err)
	}

	// As upstream's ProxyServer.Run: Services with a ClusterIP and not
	// claimed by another proxy; EndpointSlices except headless ones.
	noProxyName, _ := labels.NewRequirement(apis.LabelServiceProxyName, selection.DoesNotExist, nil)
	noHeadless, _ := labels.NewRequirement(corev1.IsHeadlessService, selection.DoesNotExist, nil)
	trim := informers.WithTransform(func(obj any) (any, error) {
		if a, err := meta.Accessor(obj); err == nil {
			a.SetManagedFields(nil)
		}
		return obj, nil
	})
	svcInformers := informers.NewSharedInformerFactoryWithOptions(client, resync, trim,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.NewSelector().Add(*noProxyName).String()
			o.FieldSelector = fields.OneTermNotEqualSelector("spec.clusterIP", corev1.ClusterIPNone).String()
		}))
	sliceInformers := informers.NewSharedInformerFactoryWithOptions(client, resync, trim,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.NewSelector().Add(*noHeadless).String()
		}))
	allInformers := informers.NewSharedInformerFactoryWithOptions(client, resync, trim)

	services := proxyconfig.NewServiceConfig(ctx, svcInformers.Core().V1().Services(), resync)
	services.RegisterEventHandler(proxier)
	go services.Run(ctx.Done())
	slices := proxyconfig.NewEndpointSliceConfig(ctx, sliceInformers.Discovery().V1().EndpointSlices(), resync)
	slices.RegisterEventHandler(proxier)
	go slices.Run(ctx.Done())
	cidrs := proxyconfig.NewServiceCIDRConfig(ctx, allInformers.Networking().V1().ServiceCIDRs(), resync)
	cidrs.RegisterEventHandler(proxier)
	go cidrs.Run(ctx.Done())
	for _, f := range []informers.SharedInformerFactory{svcInformers, sliceInformers, allInformers} {
		f.Start(ctx.Done())
	}
	// SyncLoop never returns (upstream runs it for the process's life);
	// the table is removed below, and resync is long enough that no
	// periodic sync recreates it before skiff exits.
	go proxier.SyncLoop()
	klog.FromContext(ctx).Info("kube-proxy running", "mode", "nftables", "node", cfg.NodeName)
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	for _, f := range []informers.SharedInformerFactory{svcInformers, sliceInformers, allInformers} {
		f.Shutdown()
	}
	return errors.Join(deleteKubeProxyTable(), claim.Release())
}
