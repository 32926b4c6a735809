// Package admission embeds the admission policies of skiff's ML kinds:
// CEL that the API server runs (ValidatingAdmissionPolicy and
// MutatingAdmissionPolicy), so no webhook is needed.
package admission

import "embed"

// Files are the policy manifests.
//
//go:embed *.yaml
var Files embed.FS
