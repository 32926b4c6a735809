//go:build !cgo

package sandbox

const childBuiltIn = false
