package node

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-dev/skiff/internal/node/gpu"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxPods is the kubelet's default pod capacity.
const maxPods = 110

// nodeObject describes this machine as a Node: its real capacity, its
// addresses and what runs it.
func nodeObject(cfg Config, gpus int) (*corev1.Node, error) {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
	}
	if gpus > 0 {
		capacity[gpu.Resource] = *resource.NewQuantity(int64(gpus), resource.DecimalSI)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(cfg.DataDir, &fs); err == nil {
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(fs.Blocks)*fs.Bsize, resource.BinarySI)
	}
	now := metav1.Now()
	var uts unix.Utsname
	_ = unix.Uname(&uts) // fails only with EFAULT, for a bad pointer
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: cfg.Name,
			Labels: map[string]string{
				"kubernetes.io/hostname":      cfg.Name,
				"kubernetes.io/os":            runtime.GOOS,
				"kubernetes.io/arch":          runtime.GOARCH,
				"node.skiff.dev/process-node": "true",
			},
		},
		Status: corev1.NodeStatus{
			Phase:       corev1.NodePending,
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			// Registering Ready keeps the node lifecycle controller from
			// tainting the node not-ready for its first seconds.
			Conditions: []corev1.NodeCondition{
				condition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "skiff node is ready", now),
				condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "", now),
				condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "", now),
				condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "", now),
				condition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "NodeNetworkAvailable", "pods share the node's network", now),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: cfg.InternalIP.String()},
				{Type: corev1.NodeHostName, Address: cfg.Name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(cfg.Port)}},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          cfg.Version,
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
				KernelVersion:           unix.ByteSliceToString(uts.Release[:]),
				OSImage:                 osImage(),
				ContainerRuntimeVersion: "skiff-process://" + cfg.Version,
			},
		},
	}, nil
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func osImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

func condition(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string, now metav1.Time) corev1.NodeCondition {
	return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
}
