package modelservice

import (
	"cmp"
	"path/filepath"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// Labels and annotations on what the controller makes.
const (
	LabelModelService = "ml.skiff.dev/modelservice"
	LabelRevision     = "ml.skiff.dev/revision"
	// AnnotationPredictorHash on a pod template is the hash of the
	// spec.predictor it was made from.
	AnnotationPredictorHash = "ml.skiff.dev/predictor-hash"
	// AnnotationRevisionNumber on a pod template is its revision's number.
	AnnotationRevisionNumber = "ml.skiff.dev/revision-number"
)

// Ports of skiff's model server, and where it finds the model.
const (
	httpPort   = 8080
	grpcPort   = 8081
	modelMount = "/mnt/models"
	// serverContainer is the native predictor's container (KServe names
	// its own kserve-container).
	serverContainer = "model-server"
)

// predictorName names the Service and HPA of a ModelService, as KServe's
// raw deployment mode does; each revision has a Deployment and a Service
// of its own name.
func predictorName(ms *mlv1.ModelService) string { return ms.Name + "-predictor" }

func labels(ms *mlv1.ModelService) map[string]string {
	return map[string]string{
		LabelModelService:             ms.Name,
		"app.kubernetes.io/name":      ms.Name,
		"app.kubernetes.io/component": "predictor",
		"app.kubernetes.io/part-of":   "skiff",
	}
}

// deployment is the Deployment of revision rev. A restart rolls one pod
// at a time and never below the ready replicas.
func (r *Reconciler) deployment(ms *mlv1.ModelService, rev revision) *appsv1.Deployment {
	podLabels := labels(ms)
	podLabels[LabelRevision] = rev.name
	pod := corev1.PodSpec{
		ServiceAccountName:            ms.Spec.Predictor.ServiceAccountName,
		EnableServiceLinks:            ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To[int64](30),
	}
	if m := ms.Spec.Predictor.Model; m != nil {
		st := r.modelStorage(m.StorageURI, rev.served)
		pod.InitContainers, pod.Containers, pod.Volumes = st.init, []corev1.Container{r.modelServer(ms, m, rev, st)}, st.volumes
		// The model server never calls the API: no token to mount or wait for.
		pod.AutomountServiceAccountToken = ptr.To(false)
	} else {
		pod.Containers = customContainers(ms.Spec.Predictor.Containers)
	}
	annotations := map[string]string{
		AnnotationPredictorHash:  rev.hash,
		AnnotationRevisionNumber: strconv.Itoa(int(rev.number)),
	}
	if v := rev.served; v != nil {
		annotations[AnnotationModelVersion] = servedName(v)
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ms.Namespace, Name: rev.name, Labels: podLabels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(r.bounds(ms).initial),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelModelService: ms.Name, LabelRevision: rev.name}},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			RevisionHistoryLimit:    ptr.To[int32](3),
			ProgressDeadlineSeconds: ptr.To[int32](600),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: annotations},
				Spec:       pod,
			},
		},
	}
}

// modelServer is the container of `skiff serve-model` for a native model,
// with the model's storage mounted read-only.
func (r *Reconciler) modelServer(ms *mlv1.ModelService, m *mlv1.ModelSpec, rev revision, st storage) corev1.Container {
	path := st.path
	return corev1.Container{
		Name:  serverContainer,
		Image: r.Options.ModelServerImage,
		Args: []string{
			"serve-model", "--model-name", ms.Name, "--model-version", strconv.Itoa(int(rev.number)), "--model-format", m.ModelFormat.Name,
			"--model-path", path, "--model-uri", m.StorageURI,
			"--termination-log", corev1.TerminationMessagePathDefault, "--log-format", "json",
			"--http-address", ":" + strconv.Itoa(httpPort), "--grpc-address", ":" + strconv.Itoa(grpcPort),
		},
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: httpPort, Protocol: corev1.ProtocolTCP},
			{Name: "grpc", ContainerPort: grpcPort, Protocol: corev1.ProtocolTCP},
		},
		// Ready when the model has loaded, not when the port opens.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/v2/health/ready", Port: intstr.FromString("http")}},
			PeriodSeconds:    1,
			FailureThreshold: 3,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/v2/health/live", Port: intstr.FromString("http")}},
			PeriodSeconds:    10,
			FailureThreshold: 3,
		},
		Lifecycle:                drain(),
		Resources:                modelServerResources(ms.Spec.Predictor.Resources),
		VolumeMounts:             []corev1.VolumeMount{st.mount},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// modelVolume is the volume that holds storageUri, and the model's path in
// the container.
func modelVolume(uri string) (corev1.Volume, string) {
	if claim, ok := strings.CutPrefix(uri, "pvc://"); ok {
		name, sub, _ := strings.Cut(claim, "/")
		return corev1.Volume{Name: "model", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name, ReadOnly: true},
		}}, filepath.Join(modelMount, sub)
	}
	// Only the model is mounted, never the folder around it: a .json is a
	// model file, anything else a folder holding model.json. The type is
	// checked, so a missing path is a mount error, not a folder the node
	// makes.
	path := filepath.Clean(strings.TrimPrefix(uri, "file://"))
	if strings.HasSuffix(strings.ToLower(path), ".json") {
		return corev1.Volume{Name: "model", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr.To(corev1.HostPathFile)},
		}}, filepath.Join(modelMount, filepath.Base(path))
	}
	return corev1.Volume{Name: "model", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr.To(corev1.HostPathDirectory)},
	}}, modelMount
}

// mountPoint is where vol goes: a model file at its own path.
func mountPoint(vol corev1.Volume, path string) string {
	if hp := vol.HostPath; hp != nil && hp.Type != nil && *hp.Type == corev1.HostPathFile {
		return path
	}
	return modelMount
}

// modelServerResources requests what an autoscaler needs when the user
// asked for nothing.
func modelServerResources(res *corev1.ResourceRequirements) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{}
	if res != nil {
		out = *res.DeepCopy()
	}
	if out.Requests == nil {
		out.Requests = corev1.ResourceList{}
	}
	for name, q := range map[corev1.ResourceName]string{corev1.ResourceCPU: "100m", corev1.ResourceMemory: "64Mi"} {
		if _, ok := out.Requests[name]; !ok {
			if _, limited := out.Limits[name]; !limited {
				out.Requests[name] = resource.MustParse(q)
			}
		}
	}
	return out
}

// drain keeps a stopping pod serving while the endpoints forget it.
func drain() *corev1.Lifecycle {
	return &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 2}}}
}

// customContainers are the user's containers with what a careful engineer
// adds: a readiness probe on the serving port and a drain before stop,
// where the user set none.
func customContainers(in []corev1.Container) []corev1.Container {
	out := make([]corev1.Container, len(in))
	for i := range in {
		c := *in[i].DeepCopy()
		if i == 0 {
			if len(c.Ports) == 0 {
				c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: httpPort, Protocol: corev1.ProtocolTCP}}
			}
			if c.ReadinessProbe == nil {
				c.ReadinessProbe = &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(c.Ports[0].ContainerPort)}},
					PeriodSeconds: 1,
				}
			}
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
				c.Lifecycle = cmp.Or(c.Lifecycle, &corev1.Lifecycle{})
				c.Lifecycle.PreStop = drain().PreStop
			}
		}
		if c.TerminationMessagePolicy == "" {
			c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		}
		out[i] = c
	}
	return out
}

// service is a Service in front of the pods of revision rev (the
// gateway's backend), or with name predictorName of the revision with
// most traffic (the in-cluster address): port 80 for REST (and gRPC over
// HTTP/2), and the gRPC port of a native model server.
func service(ms *mlv1.ModelService, name, rev string) *corev1.Service {
	ports := []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(servingPort(ms))}}
	if ms.Spec.Predictor.Model != nil {
		ports = append(ports, corev1.ServicePort{Name: "grpc", Port: grpcPort, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("grpc"), AppProtocol: ptr.To("kubernetes.io/h2c")})
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ms.Namespace, Name: name, Labels: labels(ms)},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{LabelModelService: ms.Name, LabelRevision: rev},
			Ports:    ports,
		},
	}
}

// servingPort is the container port requests go to.
func servingPort(ms *mlv1.ModelService) int32 {
	if cs := ms.Spec.Predictor.Containers; len(cs) > 0 && len(cs[0].Ports) > 0 {
		return cs[0].Ports[0].ContainerPort
	}
	return httpPort
}

// mergePorts is want with the node ports the API server allocated kept.
func mergePorts(want, have []corev1.ServicePort) []corev1.ServicePort {
	for i := range want {
		for _, h := range have {
			if h.Name == want[i].Name {
				want[i].NodePort = h.NodePort
			}
		}
	}
	return want
}
