// Package crd embeds the CustomResourceDefinitions of skiff's ML kinds,
// written by controller-gen (make generate) from apis/ml/v1alpha1.
package crd

import "embed"

// Files are the CRD manifests, one YAML file per kind.
//
//go:embed ml.skiff.dev_*.yaml
var Files embed.FS
