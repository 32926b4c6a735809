package instance

import (
	"runtime"
	"runtime/debug"
	"strings"
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

// ImageRepository is where skiff's container image is published; its
// entrypoint is the skiff binary.
const ImageRepository = "ghcr.io/skiff-dev/skiff"

// Image is skiff's container image at this version. On a skiff node it
// means this binary: no pull, no image map.
func Image() string {
	tag := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, Version)
	return ImageRepository + ":" + strings.TrimLeft(tag, ".-")
}
