package podruntime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-dev/skiff/internal/node/sandbox"
)

// defaultCapabilities are what a container holds when its securityContext
// names none: containerd's and Docker's default set, which Kubernetes
// users' images expect.
var defaultCapabilities = []capability.Cap{
	capability.CAP_CHOWN, capability.CAP_DAC_OVERRIDE, capability.CAP_FSETID, capability.CAP_FOWNER,
	capability.CAP_MKNOD, capability.CAP_NET_RAW, capability.CAP_SETGID, capability.CAP_SETUID,
	capability.CAP_SETFCAP, capability.CAP_SETPCAP, capability.CAP_NET_BIND_SERVICE, capability.CAP_SYS_CHROOT,
	capability.CAP_KILL, capability.CAP_AUDIT_WRITE,
}

// privileges resolves what c may hold and gain from its securityContext;
// nil for a privileged container (all of root's rights). Unlike the
// upstream default, a container gains no rights through setuid files
// unless allowPrivilegeEscalation is true: on a process node the host's
// own setuid programs are in every pod.
func privileges(c *corev1.Container) (*sandbox.Privileges, error) {
	sc := c.SecurityContext
	if sc != nil && ptr.Deref(sc.Privileged, false) {
		return nil, nil
	}
	caps := slices.Clone(defaultCapabilities)
	var err error
	p := &sandbox.Privileges{NoNewPrivs: true}
	if sc != nil && sc.AllowPrivilegeEscalation != nil {
		p.NoNewPrivs = !*sc.AllowPrivilegeEscalation
	}
	if sc != nil && sc.Capabilities != nil {
		if caps, err = applyCapabilities(c.Name, caps, sc.Capabilities); err != nil {
			return nil, err
		}
	}
	slices.Sort(caps)
	p.Capabilities = caps
	return p, nil
}

// applyCapabilities changes caps as containerd's CRI does: drop ALL
// empties them first, then add (ALL: every one), then the other drops, so
// "drop ALL, add X" is X and "add ALL, drop Y" is all but Y.
func applyCapabilities(container string, caps []capability.Cap, sc *corev1.Capabilities) ([]capability.Cap, error) {
	add, err := capabilities(container, "add", sc.Add)
	if err != nil {
		return nil, err
	}
	drop, err := capabilities(container, "drop", sc.Drop)
	if err != nil {
		return nil, err
	}
	if names(sc.Drop, "ALL") {
		caps = nil
	}
	for _, c := range add {
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	if !names(sc.Drop, "ALL") {
		caps = slices.DeleteFunc(caps, func(c capability.Cap) bool { return slices.Contains(drop, c) })
	}
	return caps, nil
}

// names reports whether list holds name (with or without CAP_, any case).
func names(list []corev1.Capability, name string) bool {
	return slices.ContainsFunc(list, func(c corev1.Capability) bool {
		return strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_") == name
	})
}

// capabilities reads securityContext.capabilities.add or drop: names
// with or without CAP_, in any case, or ALL.
func capabilities(container, field string, names []corev1.Capability) ([]capability.Cap, error) {
	var out []capability.Cap
	for _, n := range names {
		name := strings.TrimPrefix(strings.ToUpper(string(n)), "CAP_")
		if name == "ALL" {
			return capability.ListKnown(), nil
		}
		c, ok := capabilityByName[name]
		if !ok {
			return nil, &ConfigError{fmt.Sprintf("container %q: securityContext.capabilities.%s: unknown capability %q; use a name from capabilities(7) such as NET_ADMIN, or ALL", container, field, n)}
		}
		out = append(out, c)
	}
	return out, nil
}

var capabilityByName = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m[strings.ToUpper(c.String())] = c
	}
	return m
}()
