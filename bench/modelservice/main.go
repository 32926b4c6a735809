// Command modelservice measures how soon a ModelService answers: for each
// of N ModelServices of a native model, the time from the create call to
// the first answered OIP v2 request at its status.url, beside the same
// time for the Deployment and Service a user would write by hand for the
// same model server pod (the floor: what the controller adds is the
// difference).
//
//	go run ./bench/modelservice -kubeconfig ~/.skiff/kubeconfig -model /srv/model.json -features 3
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/instance"
	"github.com/skiff-dev/skiff/internal/operator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "modelservice:", err)
		os.Exit(1)
	}
}

type bench struct {
	c        client.Client
	ns       string
	model    string
	features int
	image    string
}

func run() error {
	// -kubeconfig is controller-runtime's flag (its config package defines it).
	n := flag.Int("n", 10, "ModelServices (and hand-written Deployments) to time, one after another")
	modelFile := flag.String("model", "", "an XGBoost model file on the node")
	features := flag.Int("features", 3, "the model's number of features")
	image := flag.String("image", instance.ImageRepository+":bench", "skiff's image (on a skiff node, the skiff binary)")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", flag.Lookup("kubeconfig").Value.String())
	if err != nil {
		return err
	}
	scheme, err := operator.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	b := &bench{c: c, ns: "default", model: *modelFile, features: *features, image: *image}
	ctx := context.Background()
	var viaMS, byHand []time.Duration
	for i := range *n {
		d, err := b.modelService(ctx, fmt.Sprintf("bench-ms-%02d", i))
		if err != nil {
			return err
		}
		viaMS = append(viaMS, d)
		d, err = b.handWritten(ctx, fmt.Sprintf("bench-dep-%02d", i))
		if err != nil {
			return err
		}
		byHand = append(byHand, d)
	}
	fmt.Printf("| measure (%d each) | p50 | max |\n|---|---|---|\n", *n)
	fmt.Printf("| ModelService: create to first answered request | %s | %s |\n", pct(viaMS, 50), pct(viaMS, 100))
	fmt.Printf("| hand-written Deployment + Service, same pod: create to first answer | %s | %s |\n", pct(byHand, 50), pct(byHand, 100))
	fmt.Printf("| ratio of the medians (ModelService / by hand) | %.2f | |\n", float64(pct(viaMS, 50))/float64(pct(byHand, 50)))
	return nil
}

// modelService times one ModelService from create to an answer.
func (b *bench) modelService(ctx context.Context, name string) (time.Duration, error) {
	ms := &mlv1.ModelService{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name},
		Spec: mlv1.ModelServiceSpec{Predictor: mlv1.PredictorSpec{
			Model:       &mlv1.ModelSpec{ModelFormat: mlv1.ModelFormat{Name: "xgboost"}, StorageURI: "file://" + b.model},
			MinReplicas: ptr.To[int32](1),
		}},
	}
	start := time.Now()
	if err := b.c.Create(ctx, ms); err != nil {
		return 0, err
	}
	defer b.deleteAndWait(ctx, ms, client.MatchingLabels{"ml.skiff.dev/modelservice": name})
	url := func() string {
		var got mlv1.ModelService
		if b.c.Get(ctx, client.ObjectKeyFromObject(ms), &got) != nil {
			return ""
		}
		return got.Status.URL
	}
	return b.firstAnswer(start, url, name)
}

// handWritten times the Deployment and Service of the same model server
// pod, created together, from create to an answer.
func (b *bench) handWritten(ctx context.Context, name string) (time.Duration, error) {
	labels := map[string]string{"bench": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					Containers: []corev1.Container{{
						Name: "model-server", Image: b.image,
						Args:  []string{"serve-model", "--model-name", name, "--model-format", "xgboost", "--model-path", "/mnt/models/model.json"},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{PeriodSeconds: 1,
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/v2/health/ready", Port: intstr.FromString("http")}}},
						VolumeMounts: []corev1.VolumeMount{{Name: "model", MountPath: "/mnt/models", ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: "model", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dirOf(b.model)}}}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	start := time.Now()
	if err := b.c.Create(ctx, dep); err != nil {
		return 0, err
	}
	defer b.deleteAndWait(ctx, dep, client.MatchingLabels(labels))
	if err := b.c.Create(ctx, svc); err != nil {
		return 0, err
	}
	defer b.c.Delete(ctx, svc)
	return b.firstAnswer(start, func() string { return "http://" + svc.Spec.ClusterIP }, name)
}

// firstAnswer polls until a v2 request at url() answers 200.
func (b *bench) firstAnswer(start time.Time, url func() string, name string) (time.Duration, error) {
	// A short timeout per try: a Service's rules reach the kernel within
	// 100 ms of its creation, and a SYN sent before is lost (TCP would
	// resend it only after a second, which would be measured instead).
	hc := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	zeros := strings.TrimSuffix(strings.Repeat("0,", b.features), ",")
	body := fmt.Sprintf(`{"inputs":[{"name":"input-0","shape":[1,%d],"datatype":"FP64","data":[%s]}]}`, b.features, zeros)
	for time.Since(start) < 2*time.Minute {
		if u := url(); u != "" && u != "http://" {
			resp, err := hc.Post(u+"/v2/models/"+name+"/infer", "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return time.Since(start), nil
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not answer within 2 minutes", name)
}

// deleteAndWait removes obj and waits for its pods to go, so that runs
// do not overlap.
func (b *bench) deleteAndWait(ctx context.Context, obj client.Object, pods client.MatchingLabels) {
	_ = b.c.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationForeground))
	for range 600 {
		var list corev1.PodList
		if b.c.List(ctx, &list, client.InNamespace(b.ns), pods) == nil && len(list.Items) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dirOf(path string) string { return path[:strings.LastIndex(path, "/")] }

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := min(len(s)-1, (len(s)*p)/100)
	return s[i].Round(time.Millisecond)
}
