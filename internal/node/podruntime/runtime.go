package podruntime

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/gpu"
	"github.com/skiff-dev/skiff/internal/node/images"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// Runtime runs pods as local process trees.
type Runtime struct {
	root string // one directory per pod below it

	mu     sync.Mutex
	pods   map[types.UID]*podRun
	byName map[string]types.UID // namespace/name -> uid
	notify func(*corev1.Pod)
	now    func() time.Time
	hostIP string
	record Recorder
	log    logr.Logger
	// sandboxSelf, when set, is the skiff binary that containers start
	// through to get their own namespaces and root (see package sandbox).
	sandboxSelf string
	volumes     VolumePreparer
	cgroups     *cgroups.Tree // nil: no cgroups
	images      ImageLookup
	// scratchRoots hold per-pod directories (named by pod UID) outside
	// root, such as memory-backed volumes; they go with the pod.
	scratchRoots []string
	gpus         *gpu.Allocator
	// masked are host paths hidden from sandboxes besides root.
	masked []string
	// backoffInitial is the first restart delay (upstream: 10s).
	backoffInitial time.Duration
	// volumeRefresh is how often projected volumes are rewritten.
	volumeRefresh time.Duration
	// network, when set, gives pods their own network (Config.Network).
	network PodNetwork
	dns     DNS
	metrics *Metrics // nil: not counted
	removed func(*corev1.Pod)
}

// New checks cfg and returns a runtime that runs pods by it.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("pod runtime: %w", err)
	}
	if err := os.MkdirAll(cfg.PodsDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating pod directory %s: %w", cfg.PodsDir, err)
	}
	r := &Runtime{
		root:   cfg.PodsDir,
		pods:   map[types.UID]*podRun{},
		byName: map[string]types.UID{},
		notify: func(*corev1.Pod) {},
		now:    time.Now,
		hostIP: cfg.HostIP,
		record: cfg.Recorder,
		log:    cfg.Logger,

		sandboxSelf:  cfg.SandboxBinary,
		masked:       slices.Clone(cfg.MaskedPaths),
		network:      cfg.Network,
		dns:          cfg.DNS,
		cgroups:      cfg.Cgroups,
		gpus:         cfg.GPUs,
		images:       cfg.Images,
		volumes:      cfg.Volumes,
		scratchRoots: slices.Clone(cfg.ScratchRoots),

		backoffInitial: cmp.Or(cfg.backoffInitial, backoffInitial),
		volumeRefresh:  cmp.Or(cfg.volumeRefresh, time.Minute),
		removed:        cfg.Removed,
	}
	if r.record == nil {
		r.record = func(*corev1.Pod, string, string, string) {}
	}
	return r, nil
}

// Recorder receives the events a kubelet would record for a pod
// (eventType is corev1.EventTypeNormal or EventTypeWarning).
type Recorder func(pod *corev1.Pod, eventType, reason, message string)

// ImageLookup says what an image reference maps to on this node.
type ImageLookup func(ref string) (images.Image, bool)

func (r *Runtime) image(ref string) (images.Image, bool) {
	if r.images == nil {
		return images.Image{}, false
	}
	return r.images(ref)
}

// removePodDirs deletes everything the pod left on the machine. What
// stays is logged: nothing else will remove it before skiff's next start.
func (r *Runtime) removePodDirs(pr *podRun) {
	pr.releaseNamespaces()
	if err := os.RemoveAll(pr.dir); err != nil {
		pr.log.Error(err, "Removing the pod's directory")
	}
	if r.cgroups != nil {
		if err := r.cgroups.RemovePod(string(pr.uid)); err != nil {
			pr.log.Error(err, "Removing the pod's cgroup")
		}
	}
	if r.gpus != nil {
		r.gpus.Release(string(pr.uid) + "/")
	}
	for _, root := range r.scratchRoots {
		dir := filepath.Join(root, string(pr.uid))
		// Memory volumes are tmpfs mounts.
		if err := sandbox.UnmountBelow(dir); err != nil {
			pr.log.Error(err, "Unmounting the pod's memory volumes", "dir", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			pr.log.Error(err, "Removing the pod's scratch directory", "dir", dir)
		}
	}
}

// NotifyPods registers the callback that receives every status change.
func (r *Runtime) NotifyPods(_ context.Context, f func(*corev1.Pod)) {
	r.mu.Lock()
	r.notify = f
	r.mu.Unlock()
}

func (r *Runtime) publish(p *corev1.Pod) {
	r.mu.Lock()
	f := r.notify
	r.mu.Unlock()
	f(p)
}

func key(namespace, name string) string { return namespace + "/" + name }

// CreatePod starts the pod's containers; it returns at once.
func (r *Runtime) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	r.mu.Lock()
	if _, ok := r.pods[pod.UID]; ok {
		r.mu.Unlock()
		return nil
	}
	dir := filepath.Join(r.root, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	pr := newPodRun(r, pod.DeepCopy(), dir)
	r.pods[pod.UID] = pr
	r.byName[key(pod.Namespace, pod.Name)] = pod.UID
	r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	go pr.run()
	return nil
}

// UpdatePod takes the new spec; only fields that a kubelet applies to a
// running pod (none that matter to processes yet) change.
func (r *Runtime) UpdatePod(_ context.Context, pod *corev1.Pod) error {
	if pr := r.lookup(pod.Namespace, pod.Name); pr != nil {
		pr.updateMeta(pod)
	}
	return nil
}

// DeletePod stops the pod's processes within its grace period and forgets
// it once they are gone.
func (r *Runtime) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	pr := r.lookup(pod.Namespace, pod.Name)
	if pr == nil {
		return nil
	}
	grace := 30 * time.Second
	if pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	} else if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	go func() {
		pr.stop(grace, "Killing")
		r.mu.Lock()
		if r.pods[pr.uid] == pr {
			delete(r.pods, pr.uid)
			if r.byName[key(pod.Namespace, pod.Name)] == pr.uid {
				delete(r.byName, key(pod.Namespace, pod.Name))
			}
		}
		r.mu.Unlock()
		final := pr.snapshot()
		now := r.now()
		if final.DeletionTimestamp == nil {
			final.DeletionTimestamp = &metav1.Time{Time: now}
		}
		// Gone from the API only once nothing of it is left here.
		r.removePodDirs(pr)
		r.publish(final)
		if r.removed != nil {
			r.removed(final)
		}
	}()
	return nil
}

func (r *Runtime) lookup(namespace, name string) *podRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	uid, ok := r.byName[key(namespace, name)]
	if !ok {
		return nil
	}
	return r.pods[uid]
}

// GetPod returns the pod with its current status, or nil.
func (r *Runtime) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	pr := r.lookup(namespace, name)
	if pr == nil {
		return nil, nil
	}
	return pr.snapshot(), nil
}

// GetPodStatus returns the pod's current status, or nil.
func (r *Runtime) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	p, _ := r.GetPod(ctx, namespace, name)
	if p == nil {
		return nil, nil
	}
	return &p.Status, nil
}

// GetPods lists every pod the runtime knows.
func (r *Runtime) GetPods(context.Context) ([]*corev1.Pod, error) {
	r.mu.Lock()
	runs := make([]*podRun, 0, len(r.pods))
	for _, pr := range r.pods {
		runs = append(runs, pr)
	}
	r.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(runs))
	for _, pr := range runs {
		out = append(out, pr.snapshot())
	}
	return out, nil
}

// Shutdown stops every pod (grace capped at timeout), for skiff down.
func (r *Runtime) Shutdown(timeout time.Duration) {
	r.mu.Lock()
	runs := make([]*podRun, 0, len(r.pods))
	for _, pr := range r.pods {
		runs = append(runs, pr)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, pr := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr.stop(min(timeout, pr.gracePeriod()), "Killing")
			r.removePodDirs(pr)
		}()
	}
	wg.Wait()
}
