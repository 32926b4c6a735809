package instance

import (
	"runtime"
	"runtime/debug"
)

// Version is skiff's own version, set at link time with
// -ldflags "-X github.com/skiff-dev/skiff/internal/instance.Version=...".
var Version = "dev"

// CurrentVersions reads the versions of the embedded components from the
// module information compiled into the binary.
func CurrentVersions() Versions {
	v := Versions{Skiff: Version, Go: runtime.Version(), Kubernetes: "unknown", Etcd: "unknown"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, dep := range info.Deps {
		switch dep.Path {
		case "k8s.io/kubernetes":
			v.Kubernetes = dep.Version
		case "go.etcd.io/etcd/server/v3":
			v.Etcd = dep.Version
		}
	}
	return v
}
