// Package controlplane runs the upstream Kubernetes control plane in this
// process: embedded etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, started in order with readiness between them and stopped in
// reverse. With package serviceproxy (kube-proxy), it is the only package in
// skiff that imports k8s.io/kubernetes.
package controlplane
