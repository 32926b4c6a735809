// Package network is the node side of pod networking: each pod's network
// namespace gets an address from the pod CIDR and a veth pair to a bridge
// skiff owns (one per instance), as the CNI bridge plugin does; skiff's
// nftables table masquerades pods' traffic to the outside and forwards
// host ports. Everything it makes is named as skiff's and found again
// after a crash.
package network

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// IPAM hands out pod addresses from a CIDR: the first address is the
// gateway (the bridge's), the network and broadcast addresses are never
// given, and a released address is reused only after every other free one
// has been (so a stale client of a deleted pod does not reach its
// successor at once).
type IPAM struct {
	prefix  netip.Prefix
	gateway netip.Addr

	mu    sync.Mutex
	owner map[netip.Addr]string // address -> pod UID
	byPod map[string]netip.Addr
	next  netip.Addr // where the search for a free address starts
}

// ErrExhausted means every address of the pod CIDR is in use.
var ErrExhausted = errors.New("no free address in the pod CIDR")

// NewIPAM manages cidr, an IPv4 prefix of at most /30.
func NewIPAM(cidr string) (*IPAM, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", cidr, err)
	}
	p = p.Masked()
	if !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("pod CIDR %q: want an IPv4 prefix of /30 or larger, such as 10.42.0.0/16", cidr)
	}
	gw := p.Addr().Next()
	return &IPAM{prefix: p, gateway: gw, owner: map[netip.Addr]string{}, byPod: map[string]netip.Addr{}, next: gw.Next()}, nil
}

// Gateway is the bridge's address, the pods' default route.
func (m *IPAM) Gateway() netip.Addr { return m.gateway }

// Prefix is the pod CIDR.
func (m *IPAM) Prefix() netip.Prefix { return m.prefix }

// Allocate returns pod's address, giving it one if it has none.
func (m *IPAM) Allocate(pod string) (netip.Addr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.byPod[pod]; ok {
		return a, nil
	}
	a := m.next
	for range 1 << (32 - m.prefix.Bits()) {
		if !m.usable(a) {
			a = m.gateway.Next()
		}
		if _, taken := m.owner[a]; !taken {
			m.owner[a], m.byPod[pod] = pod, a
			m.next = a.Next()
			return a, nil
		}
		a = a.Next()
	}
	return netip.Addr{}, fmt.Errorf("%w %s (%d pods hold addresses)", ErrExhausted, m.prefix, len(m.byPod))
}

// usable says whether a is a pod address: inside the prefix, not the
// network, gateway or broadcast address.
func (m *IPAM) usable(a netip.Addr) bool {
	if !m.prefix.Contains(a) || a == m.prefix.Addr() || a == m.gateway {
		return false
	}
	return m.prefix.Contains(a.Next()) // the last address is the broadcast
}

// Release frees pod's address.
func (m *IPAM) Release(pod string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.byPod[pod]; ok {
		delete(m.byPod, pod)
		delete(m.owner, a)
	}
}

// Lookup returns the pod's address, if it holds one.
func (m *IPAM) Lookup(pod string) (netip.Addr, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byPod[pod]
	return a, ok
}
