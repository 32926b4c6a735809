package podruntime

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// Upstream kubelet back-off for restarting containers.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 300 * time.Second
	// A container that ran this long without failing starts over at the
	// initial back-off.
	backoffReset = 10 * time.Minute
)

// podRun is one pod's processes and status.
type podRun struct {
	rt        *Runtime
	uid       types.UID
	namespace string
	name      string
	dir       string

	ctx    context.Context // ends when the pod is stopped
	cancel context.CancelFunc
	// log is the runtime's, naming the pod: for what no event can carry.
	log logr.Logger

	mu        sync.Mutex
	pod       *corev1.Pod
	instances map[string]*instance // running process per container
	// failReason, when set, fails the whole pod (DeadlineExceeded).
	failReason, failMessage string
	// volumePaths maps volume names to host paths once prepared.
	volumePaths map[string]string
	// ns holds the namespaces the pod's containers share (sandboxes only).
	ns *sandbox.Pod
	// podIP is the pod's address once its sandbox is ready; attached
	// says it is the pod's own, on the node's pod network.
	podIP    string
	attached bool
	finished chan struct{} // closed when run returns
	// changed is closed (and replaced) at every status update.
	changed chan struct{}
	// sidecarCtx ends once the main containers have ended: sidecars are
	// no longer restarted.
	sidecarCtx  context.Context
	endSidecars context.CancelFunc
	// received is when the node got the pod; startRecorded says its
	// start latency has been counted.
	received      time.Time
	startRecorded bool
}

// allRunning says whether n regular containers run.
func allRunning(st *corev1.PodStatus, n int) bool {
	running := 0
	for _, cs := range st.ContainerStatuses {
		if cs.State.Running != nil {
			running++
		}
	}
	return running == n
}

func newPodRun(rt *Runtime, pod *corev1.Pod, dir string) *podRun {
	ctx, cancel := context.WithCancel(context.Background())
	sidecarCtx, endSidecars := context.WithCancel(ctx)
	return &podRun{sidecarCtx: sidecarCtx, endSidecars: endSidecars, rt: rt, uid: pod.UID, namespace: pod.Namespace, name: pod.Name, dir: dir, ctx: ctx, cancel: cancel, pod: pod,
		log:       rt.log.WithValues("pod", klog.KRef(pod.Namespace, pod.Name), "podUID", pod.UID),
		instances: map[string]*instance{}, finished: make(chan struct{}), changed: make(chan struct{}), received: rt.now()}
}

func (pr *podRun) snapshot() *corev1.Pod {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.pod.DeepCopy()
}

func (pr *podRun) updateMeta(pod *corev1.Pod) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	status := pr.pod.Status
	pr.pod = pod.DeepCopy()
	pr.pod.Status = status
}

// event records a kubelet event about this pod.
func (pr *podRun) event(eventType, reason, format string, args ...any) {
	pr.rt.record(pr.snapshot(), eventType, reason, fmt.Sprintf(format, args...))
}

func (pr *podRun) gracePeriod() time.Duration {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if g := pr.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// update changes the status under the lock, recomputes phase and
// conditions, and publishes the result.
func (pr *podRun) update(change func(st *corev1.PodStatus)) {
	pr.mu.Lock()
	change(&pr.pod.Status)
	derivePodStatus(pr.pod, pr.rt.now())
	if pr.failReason != "" {
		pr.pod.Status.Phase = corev1.PodFailed
		pr.pod.Status.Reason, pr.pod.Status.Message = pr.failReason, pr.failMessage
	}
	p := pr.pod.DeepCopy()
	close(pr.changed)
	pr.changed = make(chan struct{})
	pr.mu.Unlock()
	pr.rt.publish(p)
}

// containerStatus returns the status entry for name, creating it.
func containerStatus(list *[]corev1.ContainerStatus, c *corev1.Container) *corev1.ContainerStatus {
	for i := range *list {
		if (*list)[i].Name == c.Name {
			return &(*list)[i]
		}
	}
	*list = append(*list, corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image})
	return &(*list)[len(*list)-1]
}

func (pr *podRun) run() {
	defer close(pr.finished)
	// Once no container will run again, the shared namespaces go: a
	// finished Job pod may stay for days, and nothing can enter it.
	defer pr.releaseNamespaces()
	pod := pr.snapshot()
	now := metav1.NewTime(pr.rt.now())
	pr.update(func(st *corev1.PodStatus) {
		st.StartTime = &now
		if ip := pr.rt.hostIP; ip != "" {
			st.HostIP = ip
			st.HostIPs = []corev1.HostIP{{IP: ip}}
		}
		for i := range pod.Spec.InitContainers {
			cs := containerStatus(&st.InitContainerStatuses, &pod.Spec.InitContainers[i])
			cs.State = waiting("PodInitializing", "")
		}
		for i := range pod.Spec.Containers {
			cs := containerStatus(&st.ContainerStatuses, &pod.Spec.Containers[i])
			reason := "ContainerCreating"
			if len(pod.Spec.InitContainers) > 0 {
				reason = "PodInitializing"
			}
			cs.State = waiting(reason, "")
		}
	})
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
		timer := time.AfterFunc(time.Duration(*d)*time.Second, pr.deadlineExceeded)
		defer timer.Stop()
	}
	if !pr.prepareVolumes(pod) || !pr.prepareSandbox(pod) {
		return
	}
	// The address is known once the sandbox is (as the kubelet reports
	// it after RunPodSandbox): the pod's own, or the node's.
	if ip := pr.address(); ip != "" {
		pr.update(func(st *corev1.PodStatus) {
			st.PodIP = ip
			st.PodIPs = []corev1.PodIP{{IP: ip}}
		})
	}
	go pr.refreshVolumes(pr.rt.volumeRefresh)
	// Once the main containers are done, sidecars go, in reverse order.
	var sidecars []sidecar
	defer func() { pr.stopSidecars(sidecars) }()
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if isSidecar(c) {
			sc := sidecar{name: c.Name, done: make(chan struct{})}
			sidecars = append(sidecars, sc)
			go func() { defer close(sc.done); pr.supervise(c, kindSidecar) }()
			// The next init container waits until the sidecar has started
			// (its startup probe passed), as the kubelet does.
			if !pr.waitUntil(func(st *corev1.PodStatus) bool {
				cs := find(st.InitContainerStatuses, c.Name)
				return cs != nil && cs.Started != nil && *cs.Started
			}) {
				return
			}
			continue
		}
		if code := pr.supervise(c, kindInit); code != 0 || pr.ctx.Err() != nil {
			return // the pod failed (restartPolicy Never) or is being stopped
		}
	}
	var wg sync.WaitGroup
	for i := range pod.Spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr.supervise(&pod.Spec.Containers[i], kindRegular)
		}()
	}
	wg.Wait()
}

// containerKind says how a container is run.
type containerKind int

const (
	kindRegular containerKind = iota
	kindInit                  // runs to completion before the next one
	kindSidecar               // an init container with restartPolicy Always
)

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// waitUntil blocks until check passes on the pod's status, or the pod is
// stopped (then it returns false).
func (pr *podRun) waitUntil(check func(*corev1.PodStatus) bool) bool {
	for {
		pr.mu.Lock()
		ok, changed := check(&pr.pod.Status), pr.changed
		pr.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-pr.ctx.Done():
			return false
		case <-changed:
		}
	}
}

type sidecar struct {
	name string
	done chan struct{} // closed when its supervisor returns
}

// stopSidecars ends the sidecars after the main containers, last started
// first, each with the pod's grace period.
func (pr *podRun) stopSidecars(sidecars []sidecar) {
	pr.endSidecars()
	for i := len(sidecars) - 1; i >= 0; i-- {
		sc := sidecars[i]
		for {
			pr.mu.Lock()
			inst := pr.instances[sc.name]
			pr.mu.Unlock()
			if inst != nil {
				pr.event(corev1.EventTypeNormal, "Killing", "Stopping container %s", sc.name)
				inst.terminate(pr.preStop(inst.spec, pr.gracePeriod()))
			}
			// An instance starting right now is caught on the next turn.
			select {
			case <-sc.done:
			case <-time.After(50 * time.Millisecond):
				continue
			}
			break
		}
	}
}

// prepareSandbox creates the namespaces the pod's containers share,
// retrying as the kubelet does after FailedCreatePodSandBox.
func (pr *podRun) prepareSandbox(pod *corev1.Pod) bool {
	if pr.rt.sandboxSelf == "" {
		return true
	}
	for {
		ns, addr, err := pr.newSandbox(pod)
		if err == nil {
			// A pod stopped meanwhile has already cleaned up: the
			// namespaces would outlive it.
			pr.mu.Lock()
			stopped := pr.ctx.Err() != nil
			if !stopped {
				pr.ns = ns
				if addr.IsValid() {
					pr.podIP, pr.attached = addr.String(), true
				}
			}
			pr.mu.Unlock()
			if stopped {
				if addr.IsValid() {
					pr.detach()
				}
				pr.removeNamespaces(ns)
			}
			return !stopped
		}
		pr.event(corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		select {
		case <-pr.ctx.Done():
			return false
		case <-time.After(5 * time.Second):
		}
	}
}

// newSandbox creates the pod's namespaces and, when the pod has a network
// of its own, attaches it and returns its address.
func (pr *podRun) newSandbox(pod *corev1.Pod) (*sandbox.Pod, netip.Addr, error) {
	own := pr.rt.ownNetwork(pod)
	ns, err := sandbox.NewPod(filepath.Join(pr.dir, "ns"), hostname(pod), own)
	if err != nil || !own {
		return ns, netip.Addr{}, err
	}
	uid := string(pr.uid)
	addr, err := pr.rt.network.Attach(uid, ns.NetNS())
	if err == nil {
		err = pr.rt.network.SetHostPorts(uid, hostPorts(pod, addr))
	}
	if err != nil {
		pr.detach()
		pr.removeNamespaces(ns)
		return nil, netip.Addr{}, fmt.Errorf("pod network: %w", err)
	}
	return ns, addr, nil
}

// address is the pod's IP: its own, or the node's ("" when unknown).
func (pr *podRun) address() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.podIP != "" {
		return pr.podIP
	}
	return pr.rt.hostIP
}

func (pr *podRun) releaseNamespaces() {
	pr.mu.Lock()
	ns, attached := pr.ns, pr.attached
	pr.ns, pr.attached = nil, false
	pr.mu.Unlock()
	if attached {
		pr.detach()
	}
	if ns != nil {
		pr.removeNamespaces(ns)
	}
}

// detach takes the pod off the pod network. Host-port rules left behind
// would forward the node's ports to an address the next pod may get.
func (pr *podRun) detach() {
	if err := pr.rt.network.Detach(string(pr.uid)); err != nil {
		pr.log.Error(err, "Taking the pod off the pod network")
	}
}

// removeNamespaces releases the pod's pinned namespaces and /dev/shm.
// Pins left behind keep them, mounted, until skiff cleans up at its next
// start.
func (pr *podRun) removeNamespaces(ns *sandbox.Pod) {
	if err := ns.Remove(); err != nil {
		pr.log.Error(err, "Releasing the pod's namespaces", "dir", ns.Dir)
	}
}

// supervise runs one container until it should no longer restart, and
// returns its last exit code.
func (pr *podRun) supervise(c *corev1.Container, kind containerKind) int {
	policy := pr.snapshot().Spec.RestartPolicy
	statuses := func(st *corev1.PodStatus) *[]corev1.ContainerStatus {
		if kind != kindRegular {
			return &st.InitContainerStatuses
		}
		return &st.ContainerStatuses
	}
	ctx := pr.ctx
	if kind == kindSidecar {
		ctx = pr.sidecarCtx
	}
	if _, _, err := identity(pr.snapshot(), c); err != nil {
		// The spec cannot change, so the container waits, as the
		// kubelet's does, until the pod is deleted.
		pr.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		pr.update(func(st *corev1.PodStatus) {
			containerStatus(statuses(st), c).State = waiting("CreateContainerConfigError", err.Error())
		})
		<-ctx.Done()
		return -1
	}
	backoff := pr.rt.backoffInitial
	for restarts := 0; ; restarts++ {
		if ctx.Err() != nil {
			return -1
		}
		started := pr.rt.now()
		code, term := pr.runOnce(c, kind, restarts, statuses)
		pr.update(func(st *corev1.PodStatus) {
			cs := containerStatus(statuses(st), c)
			cs.Ready, cs.Started = false, ptr.To(false)
			cs.State = corev1.ContainerState{Terminated: term}
		})
		var restart bool
		switch kind {
		case kindSidecar:
			restart = true
		case kindInit:
			restart = policy != corev1.RestartPolicyNever && code != 0
		default:
			restart = policy == corev1.RestartPolicyAlways || policy == corev1.RestartPolicyOnFailure && code != 0
		}
		if !restart || ctx.Err() != nil {
			return code
		}
		if pr.rt.now().Sub(started) > backoffReset {
			backoff = pr.rt.backoffInitial
		}
		pr.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, pr.name)
		pr.update(func(st *corev1.PodStatus) {
			cs := containerStatus(statuses(st), c)
			cs.LastTerminationState = cs.State
			cs.State = waiting("CrashLoopBackOff", "back-off "+backoff.String()+" restarting failed container="+c.Name+" pod="+pr.name)
		})
		select {
		case <-ctx.Done():
			return code
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// pulled says, in the events where a kubelet says it pulled the image, what
// the image stands for here, and what is wrong with the image map.
func (pr *podRun) pulled(c *corev1.Container) {
	img, ok := pr.rt.image(c.Image)
	switch {
	case ok && img.Dir != "":
		pr.event(corev1.EventTypeNormal, "Pulled", "Image %q is not pulled: %s maps it to %s", c.Image, img.Source, img.Dir)
	case ok:
		pr.event(corev1.EventTypeNormal, "Pulled", "Image %q is not pulled: %s maps it to the host's %s", c.Image, img.Source, strings.Join(append(slices.Clone(img.Command), img.Args...), " "))
	default:
		pr.event(corev1.EventTypeNormal, "Pulled", "Image %q is not pulled: the skiff node runs containers as local processes", c.Image)
	}
	if img.Note != "" {
		pr.event(corev1.EventTypeWarning, "ImageMapWarning", "%s", img.Note)
	}
}

// runOnce starts one instance of c and waits for it to end.
func (pr *podRun) runOnce(c *corev1.Container, kind containerKind, restarts int, statuses func(*corev1.PodStatus) *[]corev1.ContainerStatus) (int, *corev1.ContainerStateTerminated) {
	if restarts == 0 {
		pr.pulled(c)
	}
	inst, err := pr.start(c, restarts)
	now := metav1.NewTime(pr.rt.now())
	if err != nil {
		pr.rt.metrics.startFailed()
		pr.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return 128, &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now}
	}
	pr.event(corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
	pr.event(corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	pr.rt.metrics.containerStarted(restarts)
	pr.mu.Lock()
	pr.instances[c.Name] = inst
	pr.mu.Unlock()
	pr.update(func(st *corev1.PodStatus) {
		cs := containerStatus(statuses(st), c)
		if cs.State.Terminated != nil {
			cs.LastTerminationState = cs.State
		}
		cs.RestartCount = int32(restarts)
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		started, ready := initialReadiness(c)
		cs.Started, cs.Ready = ptr.To(started), ready
		cs.ContainerID = "skiff://" + string(pr.uid) + "/" + c.Name + "/" + strconv.Itoa(restarts)
		if kind == kindRegular && !pr.startRecorded && allRunning(st, len(pr.pod.Spec.Containers)) {
			pr.startRecorded = true
			pr.rt.metrics.podStarted(pr.rt.now().Sub(pr.received))
		}
	})
	probeCtx, stopProbes := context.WithCancel(pr.ctx)
	if kind != kindInit {
		pr.postStart(c, inst)
		go (&prober{pr: pr, c: c, inst: inst, statuses: statuses}).run(probeCtx)
	}
	code := inst.wait()
	stopProbes()
	pr.mu.Lock()
	delete(pr.instances, c.Name)
	pr.mu.Unlock()
	reason := "Completed"
	switch {
	case inst.oomKilled:
		reason = "OOMKilled"
		pr.event(corev1.EventTypeWarning, "OOMKilling", "Container %s exceeded its memory limit and was killed", c.Name)
	case code != 0:
		reason = "Error"
	}
	term := &corev1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason, StartedAt: now, FinishedAt: metav1.NewTime(pr.rt.now()),
		ContainerID: "skiff://" + string(pr.uid) + "/" + c.Name + "/" + strconv.Itoa(restarts),
	}
	term.Message = inst.terminationMessage()
	if term.Message == "" && code != 0 && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		term.Message = lastLines(inst.logPath, 80, 2048)
	}
	return code, term
}

// deadlineExceeded fails the pod once it has been active longer than its
// activeDeadlineSeconds, stopping its containers, as the kubelet does.
func (pr *podRun) deadlineExceeded() {
	const msg = "Pod was active on the node longer than the specified deadline"
	pr.mu.Lock()
	pr.failReason, pr.failMessage = "DeadlineExceeded", msg
	pr.mu.Unlock()
	pr.event(corev1.EventTypeNormal, "DeadlineExceeded", msg)
	go func() {
		pr.stop(pr.gracePeriod(), "Killing")
		pr.update(func(*corev1.PodStatus) {})
	}()
}

// stop ends the pod: no more restarts, SIGTERM to every process tree, and
// SIGKILL for what is left after grace.
func (pr *podRun) stop(grace time.Duration, reason string) {
	pr.cancel()
	pr.mu.Lock()
	running := make([]*instance, 0, len(pr.instances))
	names := make([]string, 0, len(pr.instances))
	for name, inst := range pr.instances {
		if isSidecar(inst.spec) {
			continue // run ends them after the others (stopSidecars)
		}
		running = append(running, inst)
		names = append(names, name)
	}
	pr.mu.Unlock()
	for _, name := range names {
		pr.event(corev1.EventTypeNormal, reason, "Stopping container %s", name)
	}
	var wg sync.WaitGroup
	for _, inst := range running {
		wg.Add(1)
		go func() { defer wg.Done(); inst.terminate(pr.preStop(inst.spec, grace)) }()
	}
	wg.Wait()
	select {
	case <-pr.finished:
	case <-time.After(grace + 5*time.Second):
	}
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func lastLines(path string, n, maxBytes int) string {
	var b strings.Builder
	if err := readLog(context.Background(), path, LogOptions{Tail: n, LimitBytes: maxBytes}, &b, nil); err != nil {
		return ""
	}
	return b.String()
}
