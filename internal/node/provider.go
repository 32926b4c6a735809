package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	utilexec "k8s.io/utils/exec"

	"github.com/skiff-dev/skiff/internal/node/podruntime"
)

// provider adapts the process runtime to virtual-kubelet's interfaces.
type provider struct {
	rt          *podruntime.Runtime
	pods        corelisters.PodLister
	allocatable corev1.ResourceList
	stats       *stats
}

func (p *provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	// The pod as the informer holds it: virtual-kubelet's copy has lost
	// the env sources only the node can resolve.
	orig, err := p.pods.Pods(pod.Namespace).Get(pod.Name)
	if err != nil {
		return fmt.Errorf("reading pod %s/%s for its env: %w", pod.Namespace, pod.Name, err)
	}
	if err := addResourceFieldEnv(pod, orig, p.allocatable); err != nil {
		return err
	}
	addStatusFieldEnv(pod, orig)
	return p.rt.CreatePod(ctx, pod)
}
func (p *provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	return p.rt.UpdatePod(ctx, pod)
}
func (p *provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	return p.rt.DeletePod(ctx, pod)
}

func (p *provider) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	pod, err := p.rt.GetPod(ctx, namespace, name)
	if err == nil && pod == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return pod, err
}

func (p *provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	st, err := p.rt.GetPodStatus(ctx, namespace, name)
	if err == nil && st == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return st, err
}

func (p *provider) GetPods(ctx context.Context) ([]*corev1.Pod, error) { return p.rt.GetPods(ctx) }

func (p *provider) NotifyPods(ctx context.Context, f func(*corev1.Pod)) { p.rt.NotifyPods(ctx, f) }

// GetContainerLogs streams a container's log through a pipe.
func (p *provider) GetContainerLogs(ctx context.Context, namespace, pod, container string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	lo := podruntime.LogOptions{Tail: -1, LimitBytes: opts.LimitBytes, Timestamps: opts.Timestamps, Follow: opts.Follow}
	// virtual-kubelet cannot tell "--tail=0" from no --tail; both read all.
	if opts.Tail > 0 {
		lo.Tail = opts.Tail
	}
	switch {
	case !opts.SinceTime.IsZero():
		lo.Since = opts.SinceTime
	case opts.SinceSeconds > 0:
		lo.Since = time.Now().Add(-time.Duration(opts.SinceSeconds) * time.Second)
	}
	// Checked before the stream starts, so kubectl prints the reason (a
	// 400 or 404, as the kubelet answers) rather than an InternalError.
	if err := p.rt.CheckLogs(namespace, pod, container, opts.Previous); err != nil {
		if errors.Is(err, podruntime.ErrNoSuchPod) {
			return nil, errdefs.AsNotFound(err)
		}
		return nil, errdefs.AsInvalidInput(err)
	}
	r, w := io.Pipe()
	go func() {
		w.CloseWithError(p.rt.Logs(ctx, namespace, pod, container, lo, opts.Previous, w))
	}()
	return r, nil
}

// RunInContainer serves kubectl exec.
func (p *provider) RunInContainer(ctx context.Context, namespace, pod, container string, cmd []string, attach api.AttachIO) error {
	stdio, done := streams(ctx, attach)
	defer done()
	err := p.rt.Exec(ctx, namespace, pod, container, cmd, stdio)
	var ee *podruntime.ExitError
	if errors.As(err, &ee) {
		return utilexec.CodeExitError{Err: err, Code: ee.Code}
	}
	return err
}

// AttachToContainer serves kubectl attach (and kubectl run -ti).
func (p *provider) AttachToContainer(ctx context.Context, namespace, pod, container string, attach api.AttachIO) error {
	stdio, done := streams(ctx, attach)
	defer done()
	return p.rt.Attach(ctx, namespace, pod, container, stdio)
}

// streams adapts a kubelet API session to the runtime's; done closes the
// output streams.
func streams(ctx context.Context, attach api.AttachIO) (podruntime.ExecIO, func()) {
	stdio := podruntime.ExecIO{Stdin: attach.Stdin(), TTY: attach.TTY()}
	var closers []io.Closer
	if out := attach.Stdout(); out != nil {
		stdio.Stdout = out
		closers = append(closers, out)
	}
	if errOut := attach.Stderr(); errOut != nil {
		stdio.Stderr = errOut
		closers = append(closers, errOut)
	}
	if stdio.TTY {
		sizes := make(chan [2]uint16)
		stdio.Resize = sizes
		go func() {
			defer close(sizes)
			for {
				select {
				case s, ok := <-attach.Resize():
					if !ok {
						return
					}
					select {
					case sizes <- [2]uint16{s.Width, s.Height}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return stdio, func() {
		for _, c := range closers {
			c.Close()
		}
	}
}

// PortForward connects to the port on the pod's loopback.
func (p *provider) PortForward(ctx context.Context, namespace, pod string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if got, _ := p.rt.GetPod(ctx, namespace, pod); got == nil {
		return errdefs.NotFoundf("pod %s/%s is not on this node", namespace, pod)
	}
	conn, err := p.rt.DialPod(ctx, namespace, pod, int(port))
	if err != nil {
		return fmt.Errorf("port-forward to %s/%s port %d: %w", namespace, pod, port, err)
	}
	defer conn.Close()
	// Either copy ends when its side closes, which ends the session.
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// GetStatsSummary answers the kubelet's /stats/summary.
func (p *provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return p.stats.summary()
}

// GetMetricsResource answers the kubelet's /metrics/resource.
func (p *provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return p.stats.resourceMetrics()
}

// removeFromAPI deletes a pod whose processes and files are gone, at once
// and only that pod (its UID), as the kubelet does once it has stopped a
// pod: virtual-kubelet alone would wait out the whole grace period, so
// every deletion, rollout and namespace removal took 30 seconds.
func removeFromAPI(client kubernetes.Interface, log logr.Logger) func(*corev1.Pod) {
	return func(pod *corev1.Pod) {
		if pod.DeletionTimestamp == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		opts := metav1.NewDeleteOptions(0)
		opts.Preconditions = metav1.NewUIDPreconditions(string(pod.UID))
		err := client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, *opts)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			log.Error(err, "Removing a stopped pod from the API", "pod", klog.KObj(pod))
		}
	}
}
