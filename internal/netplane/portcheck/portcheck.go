// Package portcheck tells a Service's owner when a named targetPort
// matches no port of the pods the Service selects. Upstream publishes
// such endpoints without the port, and connections to the Service then
// time out with nothing said anywhere; here the Service gets a Warning
// event naming the port, the pods and the fix.
package portcheck

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Reason is the Warning event's reason.
const Reason = "TargetPortNotFound"

// Checker watches Services and pods and reports unmatched named ports.
type Checker struct {
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	queue    workqueue.TypedRateLimitingInterface[types.NamespacedName]
	recorder record.EventRecorder

	mu       sync.Mutex
	reported map[types.NamespacedName]string // the last warning per Service
}

// Run checks Services until ctx ends.
func Run(ctx context.Context, client kubernetes.Interface) error {
	factory := informers.NewSharedInformerFactory(client, 0)
	svcs, pods := factory.Core().V1().Services(), factory.Core().V1().Pods()
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	c := &Checker{
		services: svcs.Lister(), pods: pods.Lister(), reported: map[types.NamespacedName]string{},
		recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "skiff-portcheck"}),
		queue:    workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName]()),
	}
	if _, err := svcs.Informer().AddEventHandler(handler(func(obj any) {
		if s, ok := obj.(*corev1.Service); ok {
			c.queue.Add(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
		}
	})); err != nil {
		return err
	}
	// A pod's ports or labels change what its namespace's Services find.
	if _, err := pods.Informer().AddEventHandler(handler(func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			c.enqueueNamespace(p.Namespace)
		}
	})); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcs.Informer().HasSynced, pods.Informer().HasSynced) {
		return ctx.Err()
	}
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for c.next() {
	}
	return nil
}

func handler(enqueue func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			enqueue(obj)
		},
	}
}

func (c *Checker) enqueueNamespace(ns string) {
	svcs, err := c.services.Services(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		c.queue.Add(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
	}
}

func (c *Checker) next() bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	c.check(key)
	return true
}

// check warns once per distinct problem; a Service that is fixed, or
// gone, is forgotten so that a relapse is reported again.
func (c *Checker) check(key types.NamespacedName) {
	svc, err := c.services.Services(key.Namespace).Get(key.Name)
	var problem string
	if err == nil && len(svc.Spec.Selector) > 0 {
		pods, _ := c.pods.Pods(key.Namespace).List(labels.SelectorFromSet(svc.Spec.Selector))
		problem = Unmatched(svc, pods)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if problem == "" {
		delete(c.reported, key)
		return
	}
	if c.reported[key] == problem {
		return
	}
	c.reported[key] = problem
	c.recorder.Event(svc, corev1.EventTypeWarning, Reason, problem)
}

// Unmatched says which named target ports of svc no pod declares, or ""
// when every one is found (or no pod is selected yet: then there is
// nothing to say about their ports).
func Unmatched(svc *corev1.Service, pods []*corev1.Pod) string {
	pods = slices.DeleteFunc(slices.Clone(pods), func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	if len(pods) == 0 {
		return ""
	}
	var missing []string
	for _, sp := range svc.Spec.Ports {
		if sp.TargetPort.Type != intstr.String || sp.TargetPort.StrVal == "" {
			continue
		}
		if !slices.ContainsFunc(pods, func(p *corev1.Pod) bool { return declares(p, sp.TargetPort.StrVal, sp.Protocol) }) {
			missing = append(missing, fmt.Sprintf("%q (port %d)", sp.TargetPort.StrVal, sp.Port))
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("targetPort %s matches no named containerPort of the %d pod(s) this Service selects (%s), so connections to it time out: "+
		"name the container's port so in the pod template (ports: [{name: ..., containerPort: ...}]), or give targetPort as a number",
		strings.Join(missing, ", "), len(pods), labels.SelectorFromSet(svc.Spec.Selector))
}

func declares(p *corev1.Pod, name string, protocol corev1.Protocol) bool {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == name && orTCP(port.Protocol) == orTCP(protocol) {
				return true
			}
		}
	}
	return false
}

// orTCP is a protocol with the API's default filled in.
func orTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}
