//go:build cgo

package sandbox

// The sandbox child is nsexec.c's constructor: it runs before the Go
// runtime when SKIFF_SANDBOX_SPEC is set, and never returns.

// #cgo CFLAGS: -Wall -O2
import "C"

// childBuiltIn says whether this binary carries the sandbox child.
const childBuiltIn = true
