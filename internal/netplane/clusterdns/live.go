package clusterdns

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// liveTimeout bounds the API read behind a lister miss.
const liveTimeout = 500 * time.Millisecond

// missMemory is how long a name the API did not have either is answered
// NXDOMAIN without asking again: the search path makes every pod ask for
// names that do not exist, and those must not each cost an API request.
const missMemory = time.Second

// liveServices reads Services from the API server on the informer's
// misses, remembering misses briefly.
type liveServices struct {
	client kubernetes.Interface
	now    func() time.Time

	mu     sync.Mutex
	misses map[string]time.Time // ns/name: until when it is known absent
}

func newLiveServices(client kubernetes.Interface) *liveServices {
	return &liveServices{client: client, now: time.Now, misses: map[string]time.Time{}}
}

func (l *liveServices) get(ns, name string) *corev1.Service {
	key := ns + "/" + name
	now := l.now()
	l.mu.Lock()
	until, missed := l.misses[key]
	if missed && now.After(until) {
		delete(l.misses, key)
		missed = false
	}
	l.mu.Unlock()
	if missed {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	svc, err := l.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		l.mu.Lock()
		if len(l.misses) > 4096 { // bounded: forget them all at once
			clear(l.misses)
		}
		l.misses[key] = now.Add(missMemory)
		l.mu.Unlock()
		return nil
	}
	return svc
}
