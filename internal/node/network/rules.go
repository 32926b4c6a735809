package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

// TablePrefix starts the name of skiff's nftables table; the instance ID
// ends it.
const TablePrefix = "skiff-"

// TableName is the instance's nftables table (family ip).
func TableName(instanceID string) string { return TablePrefix + instanceID }

// Chains and the set of skiff's table.
const (
	chainMasquerade  = "pod-egress"
	chainPrerouting  = "hostports-prerouting"
	chainOutput      = "hostports-output"
	chainHostPorts   = "hostports"
	nftTimeout       = 10 * time.Second
	nftMinimumNotice = "skiff needs the nft tool (Debian package nftables) for pod networking"
)

// HostPort forwards a port of the node to a pod's port (a container's
// hostPort).
type HostPort struct {
	Protocol corev1.Protocol // TCP, UDP or SCTP
	HostIP   string          // empty: every address of the node
	HostPort int32
	PodIP    netip.Addr
	PodPort  int32
}

// rules drives skiff's table.
type rules struct {
	nft knftables.Interface
}

func checkNFT() error {
	if _, err := exec.LookPath("nft"); err != nil {
		return errors.New(nftMinimumNotice)
	}
	return nil
}

func newRules(instanceID, bridge string, podCIDR netip.Prefix) (*rules, error) {
	nft, err := knftables.New(knftables.IPv4Family, TableName(instanceID))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nftMinimumNotice, err)
	}
	r := &rules{nft: nft}
	cidr := podCIDR.Masked().String()
	tx := nft.NewTransaction()
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("skiff: pod NAT and host ports")})
	base := func(name string, t knftables.BaseChainType, hook knftables.BaseChainHook, prio knftables.BaseChainPriority) {
		tx.Add(&knftables.Chain{Name: name, Type: &t, Hook: &hook, Priority: &prio})
	}
	base(chainMasquerade, knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority)
	base(chainPrerouting, knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority)
	base(chainOutput, knftables.NATType, knftables.OutputHook, knftables.DNATPriority)
	tx.Add(&knftables.Chain{Name: chainHostPorts})
	// Pods reach the outside under the node's address.
	tx.Add(&knftables.Rule{Chain: chainMasquerade, Rule: knftables.Concat("ip saddr", cidr, "ip daddr !=", cidr, "oifname !=", bridge, "masquerade")})
	// Host ports: traffic to the node's own (non-loopback) addresses.
	for _, c := range []string{chainPrerouting, chainOutput} {
		tx.Add(&knftables.Rule{Chain: c, Rule: "fib daddr type local ip daddr != 127.0.0.0/8 jump " + chainHostPorts})
	}
	if err := r.run(tx); err != nil {
		return nil, fmt.Errorf("creating nftables table %s: %w", TableName(instanceID), err)
	}
	return r, nil
}

func (r *rules) run(tx *knftables.Transaction) error {
	ctx, cancel := context.WithTimeout(context.Background(), nftTimeout)
	defer cancel()
	return r.nft.Run(ctx, tx)
}

// setHostPorts rewrites the host port chain to hold exactly ports.
func (r *rules) setHostPorts(ports []HostPort) error {
	tx := r.nft.NewTransaction()
	tx.Flush(&knftables.Chain{Name: chainHostPorts})
	for _, p := range ports {
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		match := ""
		if p.HostIP != "" && p.HostIP != "0.0.0.0" {
			match = "ip daddr " + p.HostIP + " "
		}
		tx.Add(&knftables.Rule{Chain: chainHostPorts, Rule: match + knftables.Concat(proto, "dport", strconv.Itoa(int(p.HostPort)),
			"dnat to", netip.AddrPortFrom(p.PodIP, uint16(p.PodPort)).String())})
	}
	return r.run(tx)
}

// SetHostPorts forwards the node's ports to the pod (nil: none).
func (h *Host) SetHostPorts(podUID string, ports []HostPort) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(ports) == 0 {
		if _, had := h.hostPorts[podUID]; !had {
			return nil
		}
		delete(h.hostPorts, podUID)
	} else {
		h.hostPorts[podUID] = ports
	}
	uids := make([]string, 0, len(h.hostPorts))
	for uid := range h.hostPorts {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	var all []HostPort
	for _, uid := range uids {
		all = append(all, h.hostPorts[uid]...)
	}
	return h.rules.setHostPorts(all)
}

// deleteTable removes the instance's table, if there is one.
func deleteTable(instanceID string) error {
	if checkNFT() != nil {
		return nil // without nft there was never a table
	}
	nft, err := knftables.New(knftables.IPv4Family, TableName(instanceID))
	if err != nil {
		return err
	}
	tx := nft.NewTransaction()
	tx.Delete(&knftables.Table{})
	ctx, cancel := context.WithTimeout(context.Background(), nftTimeout)
	defer cancel()
	if err := nft.Run(ctx, tx); err != nil && !knftables.IsNotFound(err) {
		return fmt.Errorf("deleting nftables table %s: %w", TableName(instanceID), err)
	}
	return nil
}
