package podruntime

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/skiff-dev/skiff/internal/node/cgroups"
)

// ContainerUsage is one running container's resource use.
type ContainerUsage struct {
	Name    string
	Started time.Time
	cgroups.Usage
}

// PodUsage is a pod's running containers' resource use, read at Time.
type PodUsage struct {
	Namespace, Name string
	UID             types.UID
	Labels          map[string]string
	Time            time.Time
	Containers      []ContainerUsage
}

// Usage reads the cgroup counters of every running container (nothing
// without cgroups). A container that ends meanwhile is left out.
func (r *Runtime) Usage() []PodUsage {
	if r.cgroups == nil {
		return nil
	}
	r.mu.Lock()
	pods := make([]*podRun, 0, len(r.pods))
	for _, pr := range r.pods {
		pods = append(pods, pr)
	}
	r.mu.Unlock()
	var out []PodUsage
	for _, pr := range pods {
		pu := PodUsage{Namespace: pr.namespace, Name: pr.name, UID: pr.uid}
		pr.mu.Lock()
		pu.Labels = pr.pod.Labels
		type running struct {
			name    string
			started time.Time
			group   *cgroups.Group
		}
		var list []running
		for name, inst := range pr.instances {
			if inst.group != nil {
				list = append(list, running{name, inst.started, inst.group})
			}
		}
		pr.mu.Unlock()
		for _, c := range list {
			u, err := c.group.Usage()
			if err != nil {
				continue // ended meanwhile
			}
			pu.Containers = append(pu.Containers, ContainerUsage{Name: c.name, Started: c.started, Usage: u})
		}
		pu.Time = r.now()
		if len(pu.Containers) > 0 {
			out = append(out, pu)
		}
	}
	return out
}
