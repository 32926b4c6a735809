package node

import (
	"github.com/skiff-dev/skiff/internal/node/cgroups"
	"github.com/skiff-dev/skiff/internal/node/network"
	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// Capability is one thing the machine may give pods.
type Capability struct {
	OK bool
	// Why says, for people, what is missing when not OK ("skiff is not
	// running as root").
	Why string
}

// Capabilities says what this machine gives pods.
type Capabilities struct {
	// Sandboxes: each container in its own namespaces and root (Config's
	// Sandboxes).
	Sandboxes Capability
	// Cgroups: containers' CPU, memory and pid limits enforced (Config's
	// Cgroups).
	Cgroups Capability
	// PodNetwork: pods on a network of their own (Config's Network). It
	// needs sandboxes, so without them it is not OK either, for their
	// reason.
	PodNetwork Capability
}

// Probe checks what this machine supports; it changes nothing.
func Probe() Capabilities {
	return probe(sandbox.Available, cgroups.Available, network.Available)
}

// check is one of the packages' Available functions.
type check func() (ok bool, why string)

func probe(sandboxes, limits, podNetwork check) Capabilities {
	caps := Capabilities{Sandboxes: capability(sandboxes), Cgroups: capability(limits)}
	caps.PodNetwork = caps.Sandboxes
	if caps.Sandboxes.OK {
		caps.PodNetwork = capability(podNetwork)
	}
	return caps
}

func capability(c check) Capability {
	ok, why := c()
	if ok {
		return Capability{OK: true}
	}
	return Capability{Why: why}
}
