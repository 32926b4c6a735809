// Package gpu finds the machine's NVIDIA GPUs with nvidia-smi and hands
// them to pods, as the NVIDIA device plugin does on a kubelet: a container
// that asks for nvidia.com/gpu gets whole devices of its own.
package gpu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Resource is the extended resource the node advertises.
const Resource corev1.ResourceName = "nvidia.com/gpu"

// Device is one GPU.
type Device struct {
	Index     int
	UUID      string
	Name      string
	MemoryMiB int
	// Minor is the N of its /dev/nvidiaN.
	Minor int
}

// Path is the device node of d.
func (d Device) Path() string { return "/dev/nvidia" + strconv.Itoa(d.Minor) }

// ControlDevices are the nodes every GPU user needs besides its devices'.
var ControlDevices = []string{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"}

// Detect lists the GPUs nvidia-smi reports; none (and no error) when
// nvidia-smi is not installed.
func Detect(ctx context.Context) ([]Device, error) {
	bin, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--query-gpu=index,uuid,name,memory.total,pci.bus_id", "--format=csv,noheader,nounits").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, fmt.Errorf("nvidia-smi: %w", err)
	}
	return parse(out, procMinor)
}

// parse reads nvidia-smi's CSV; minor finds a GPU's device minor number
// from its PCI bus id.
func parse(out []byte, minor func(busID string) (int, bool)) ([]Device, error) {
	var devs []Device
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 5 {
			return nil, fmt.Errorf("nvidia-smi: unexpected line %q", line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		index, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi: bad index in %q", line)
		}
		mem, _ := strconv.Atoi(f[3])
		d := Device{Index: index, UUID: f[1], Name: f[2], MemoryMiB: mem, Minor: index}
		if m, ok := minor(f[4]); ok {
			d.Minor = m
		}
		devs = append(devs, d)
	}
	return devs, sc.Err()
}

// procMinor reads "Device Minor" from the driver's /proc entry for the
// GPU (nvidia-smi writes an 8-digit PCI domain, /proc a 4-digit one).
func procMinor(busID string) (int, bool) {
	id := strings.ToLower(busID)
	if len(id) == 16 && strings.HasPrefix(id, "0000") {
		id = id[4:]
	}
	data, err := os.ReadFile("/proc/driver/nvidia/gpus/" + id + "/information")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Device Minor:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}

// Allocator hands out whole GPUs to containers, keyed by an owner string
// (pod UID and container name).
type Allocator struct {
	mu    sync.Mutex
	devs  []Device
	owner map[string]string // UUID -> owner
}

// NewAllocator manages devs.
func NewAllocator(devs []Device) *Allocator {
	return &Allocator{devs: devs, owner: map[string]string{}}
}

// Count is how many GPUs the node has.
func (a *Allocator) Count() int { return len(a.devs) }

// Allocate gives owner n free GPUs (the ones it already holds first, so
// a restarted container keeps its devices).
func (a *Allocator) Allocate(owner string, n int) ([]Device, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var got []Device
	for _, d := range a.devs {
		if a.owner[d.UUID] == owner && len(got) < n {
			got = append(got, d)
		}
	}
	for _, d := range a.devs {
		if _, taken := a.owner[d.UUID]; !taken && len(got) < n {
			got = append(got, d)
		}
	}
	if len(got) < n {
		return nil, fmt.Errorf("%d %s requested, %d free of %d on this node", n, Resource, len(got), len(a.devs))
	}
	for _, d := range got {
		a.owner[d.UUID] = owner
	}
	return got, nil
}

// Release frees every GPU whose owner starts with prefix.
func (a *Allocator) Release(prefix string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for uuid, o := range a.owner {
		if strings.HasPrefix(o, prefix) {
			delete(a.owner, uuid)
		}
	}
}

// Requested is how many GPUs c asks for (its limit; requests must equal it).
func Requested(c *corev1.Container) int {
	if q, ok := c.Resources.Limits[Resource]; ok {
		return int(q.Value())
	}
	if q, ok := c.Resources.Requests[Resource]; ok {
		return int(q.Value())
	}
	return 0
}

// Env is what a container with devs sees: the CUDA and NVIDIA variables
// naming its devices only (none when devs is empty).
func Env(devs []Device) []string {
	ids := make([]string, 0, len(devs))
	for _, d := range devs {
		ids = append(ids, d.UUID)
	}
	visible := strings.Join(ids, ",")
	nvidia := visible
	if nvidia == "" {
		nvidia = "void"
	}
	return []string{"CUDA_VISIBLE_DEVICES=" + visible, "NVIDIA_VISIBLE_DEVICES=" + nvidia}
}
