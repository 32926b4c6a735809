// Package gatewayapi embeds the Gateway API's standard-channel CRDs, at
// the version of sigs.k8s.io/gateway-api in go.mod (make generate copies
// them from the module), which skiff up installs for its gateway.
package gatewayapi

import "embed"

// Files are the CRD manifests, one YAML file per kind.
//
//go:embed gateway.networking.k8s.io_*.yaml
var Files embed.FS
