// Package servicelb is the load balancer of a single-node cluster, as
// k3s's ServiceLB: a LoadBalancer Service gets the node's address as its
// ingress (kube-proxy forwards <node IP>:<port> to the endpoints), and
// <port> on the node's loopback is relayed to the Service too, so `curl
// localhost:<port>` reaches it.
package servicelb

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// Config says which address Services get.
type Config struct {
	Client kubernetes.Interface
	NodeIP net.IP
	// Loopback relays each LoadBalancer port from 127.0.0.1.
	Loopback bool
}

// Controller assigns load balancer addresses.
type Controller struct {
	cfg    Config
	lister corelisters.ServiceLister
	queue  workqueue.TypedRateLimitingInterface[types.NamespacedName]

	mu     sync.Mutex
	relays map[relayKey]*relay
}

type relayKey struct {
	svc  types.NamespacedName
	port int32
}

// Run reconciles Services until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	factory := informers.NewSharedInformerFactory(cfg.Client, 0)
	inf := factory.Core().V1().Services()
	c := &Controller{cfg: cfg, lister: inf.Lister(), relays: map[relayKey]*relay{},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName]())}
	enqueue := func(obj any) {
		if s, ok := obj.(*corev1.Service); ok {
			c.queue.Add(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
		} else if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			if s, ok := d.Obj.(*corev1.Service); ok {
				c.queue.Add(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
			}
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, DeleteFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return ctx.Err()
	}
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for c.next(ctx) {
	}
	c.closeRelays(func(relayKey) bool { return true })
	return nil
}

func (c *Controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		klog.FromContext(ctx).Error(err, "load balancer", "service", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *Controller) sync(ctx context.Context, key types.NamespacedName) error {
	svc, err := c.lister.Services(key.Namespace).Get(key.Name)
	if err != nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.DeletionTimestamp != nil ||
		svc.Spec.LoadBalancerClass != nil {
		c.closeRelays(func(k relayKey) bool { return k.svc == key })
		return nil
	}
	if c.cfg.Loopback {
		c.syncRelays(ctx, key, svc)
	}
	want := []corev1.LoadBalancerIngress{{IP: c.cfg.NodeIP.String(), IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
	if len(svc.Status.LoadBalancer.Ingress) == 1 && svc.Status.LoadBalancer.Ingress[0].IP == want[0].IP {
		return nil
	}
	svc = svc.DeepCopy()
	svc.Status.LoadBalancer.Ingress = want
	_, err = c.cfg.Client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	return err
}

// syncRelays makes the loopback relays match the Service's TCP ports.
func (c *Controller) syncRelays(ctx context.Context, key types.NamespacedName, svc *corev1.Service) {
	want := map[relayKey]string{}
	for _, p := range svc.Spec.Ports {
		if p.Protocol == corev1.ProtocolTCP && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
			want[relayKey{key, p.Port}] = net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(p.Port)))
		}
	}
	c.closeRelays(func(k relayKey) bool { _, keep := want[k]; return k.svc == key && !keep })
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, target := range want {
		if r, ok := c.relays[k]; ok && r.target == target {
			continue
		} else if ok {
			r.close()
		}
		r, err := newRelay(k.port, target)
		if err != nil {
			// Another program holds the port: the node address still works.
			klog.FromContext(ctx).Info("loopback relay unavailable", "service", key, "port", k.port, "err", err)
			continue
		}
		c.relays[k] = r
	}
}

func (c *Controller) closeRelays(match func(relayKey) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, r := range c.relays {
		if match(k) {
			r.close()
			delete(c.relays, k)
		}
	}
}

// relay copies connections from 127.0.0.1:port to target.
type relay struct {
	target string
	l      net.Listener
}

func newRelay(port int32, target string) (*relay, error) {
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return nil, err
	}
	r := &relay{target: target, l: l}
	go r.serve()
	return r, nil
}

func (r *relay) serve() {
	for {
		in, err := r.l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer in.Close()
			out, err := net.DialTimeout("tcp4", r.target, 5*time.Second)
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); closeWrite(out); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); closeWrite(in); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (r *relay) close() { _ = r.l.Close() }
