// Package v1alpha1 holds the ML kinds of skiff (API group ml.skiff.dev):
// Go types with kubebuilder markers, from which controller-gen writes the
// deepcopy code and the CRDs. It is its own Go module and imports only
// k8s.io/api and k8s.io/apimachinery, so a program that reads or writes
// these objects does not inherit k8s.io/kubernetes.
//
// +kubebuilder:object:generate=true
// +groupName=ml.skiff.dev
package v1alpha1
