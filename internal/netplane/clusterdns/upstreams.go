package clusterdns

import (
	"sync"
	"time"
)

// restAfterFailure is how long a resolver that did not answer
// failuresToRest times in a row is left alone before it is asked again
// (one lost packet is not enough).
const (
	restAfterFailure = 5 * time.Second
	failuresToRest   = 2
)

// upstreams are the node's resolvers with what is known of their health.
type upstreams struct {
	addrs []string
	now   func() time.Time

	mu       sync.Mutex
	failures map[string]int       // in a row
	until    map[string]time.Time // resting until then
}

func newUpstreams(addrs []string) *upstreams {
	return &upstreams{addrs: addrs, now: time.Now, failures: map[string]int{}, until: map[string]time.Time{}}
}

// usable are the resolvers to ask now, in their order.
func (u *upstreams) usable() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	var out []string
	for _, a := range u.addrs {
		if now.After(u.until[a]) {
			out = append(out, a)
		}
	}
	return out
}

// report records how a query to addr went.
func (u *upstreams) report(addr string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		delete(u.failures, addr)
		delete(u.until, addr)
		return
	}
	if u.failures[addr]++; u.failures[addr] >= failuresToRest {
		u.failures[addr] = 0
		u.until[addr] = u.now().Add(restAfterFailure)
	}
}
