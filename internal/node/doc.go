// Package node is the skiff node agent: it registers this machine as a
// Kubernetes node through the virtual-kubelet library (node object, lease,
// pod sync, the kubelet HTTP API for logs, exec and port-forward) and runs
// the pods bound to it with the process runtime.
package node
