// Package netplane groups the cluster-level network plane: what makes
// Services and names work for every pod, beside the control plane. Its
// subpackages are the service proxy (the upstream kube-proxy, nftables),
// the cluster DNS, the LoadBalancer Service relay and the check that a
// Service's named target ports exist on its pods. The node's side of
// pod networking (the bridge, each pod's veth and address) is the node's
// own, in internal/node/network.
package netplane
