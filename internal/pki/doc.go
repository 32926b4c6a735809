// Package pki creates and checks the cluster's certificate authority, the
// certificates of each control-plane component and client, and the
// service-account signing key. It has no Kubernetes imports, so its tests
// stay fast.
package pki
