// Package podruntime runs the pods bound to the skiff node as local processes:
// init containers in order, then every container under its restart policy
// with the upstream back-off, with logs kept per container instance in the
// CRI log format, and pod status derived as a kubelet derives it. It is the
// virtual-kubelet provider's engine and has no Kubernetes control-plane
// imports.
package podruntime
