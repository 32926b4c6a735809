// Package sandbox gives a container process its own view of the machine:
// new mount, PID, IPC and UTS namespaces, a private writable overlay over a
// root filesystem (the host's, or an image directory), its volumes at their
// mount paths and the pod's hostname. skiff re-executes itself as the
// sandbox's first process (see Child), which prepares the mounts, pivots
// into the new root and then executes the container's command, so the
// command runs as PID 1 of its namespace, as in a container.
package sandbox
