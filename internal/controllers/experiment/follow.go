package experiment

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/tune/metrics"
)

// progressEvery is how often a follower that read new values has its
// trial reconciled (so the values reach the status).
const progressEvery = time.Second

// followers stream running trials' logs into readers, one goroutine per
// trial; what they read is only progress (early stopping and people),
// the result is read again from the whole log at the end.
type followers struct {
	mu      sync.Mutex
	running map[types.NamespacedName]*follower
	events  chan event.GenericEvent
}

type follower struct {
	pod    string // the pod followed: a Job's next pod is followed anew
	cancel context.CancelFunc
	mu     sync.Mutex
	reader *metrics.Reader
}

func newFollowers() *followers {
	return &followers{running: map[types.NamespacedName]*follower{}, events: make(chan event.GenericEvent, 1024)}
}

func (f *followers) source() source.Source {
	return source.Channel(f.events, &handler.EnqueueRequestForObject{})
}

// start follows the log of the trial's pod, whose primary container has
// started, unless it is already followed.
func (f *followers) start(ctx context.Context, r *TrialReconciler, trial *mlv1.Trial, pod *corev1.Pod) {
	key := types.NamespacedName{Namespace: trial.Namespace, Name: trial.Name}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.running[key]; ok {
		if fl.pod == pod.Name {
			return
		}
		fl.cancel()
	}
	reader, err := newReader(trial)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	fl := &follower{pod: pod.Name, cancel: cancel, reader: reader}
	f.running[key] = fl
	go fl.run(ctx, r, trial.DeepCopy(), client.ObjectKeyFromObject(pod), f.events)
}

func (f *followers) stop(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.running[key]; ok {
		fl.cancel()
		delete(f.running, key)
	}
}

// reader is a snapshot of what the trial's follower read, nil when none
// runs.
func (f *followers) reader(key types.NamespacedName) *metrics.Reader {
	f.mu.Lock()
	fl := f.running[key]
	f.mu.Unlock()
	if fl == nil {
		return nil
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.reader.Clone()
}

// run streams the primary container's log of the trial's pod, nudging
// the trial's reconcile when values arrive, at most every progressEvery
// and not in the first: a trial that short ends before progress matters.
// The pod's end reconciles the trial through the pod watch, and the
// whole log is read again then.
func (fl *follower) run(ctx context.Context, r *TrialReconciler, trial *mlv1.Trial, pod types.NamespacedName, events chan<- event.GenericEvent) {
	stream, err := r.Logs.Open(ctx, pod.Namespace, pod.Name, trial.Spec.PrimaryContainerName, true)
	if err != nil {
		return
	}
	defer stream.Close()
	last := time.Now()
	read := collectedLines(trial, fl.reader.Line)
	_ = stream.Lines(func(line string) {
		fl.mu.Lock()
		read(line)
		fl.mu.Unlock()
		if time.Since(last) >= progressEvery {
			last = time.Now()
			select { // a full channel already holds a reconcile to come
			case events <- event.GenericEvent{Object: trial}:
			default:
			}
		}
	})
}

// state is the container's state in the pod's status, nil before it has
// one.
func state(pod *corev1.Pod, container string) *corev1.ContainerState {
	for i := range pod.Status.ContainerStatuses {
		if s := &pod.Status.ContainerStatuses[i]; s.Name == container {
			return &s.State
		}
	}
	return nil
}

// started says whether the container has started (its log exists).
func started(pod *corev1.Pod, container string) bool {
	s := state(pod, container)
	return s != nil && (s.Running != nil || s.Terminated != nil)
}

// terminated says whether the container has ended.
func terminated(pod *corev1.Pod, container string) bool {
	s := state(pod, container)
	return s != nil && s.Terminated != nil
}
