package modelservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// metadataClient asks model servers for their metadata; a slow one is not
// waited for.
var metadataClient = &http.Client{Timeout: time.Second}

// modelStatus is status.model: the native model's name and format, and
// its inputs and outputs as the latest ready revision's model server
// reports them (asked once per revision, directly at a pod: a controller
// outside the cluster, which cannot reach pods, reports name and format).
func (r *Reconciler) modelStatus(ctx context.Context, ms *mlv1.ModelService, rev revision, latestReady bool, pods []corev1.Pod) *mlv1.ModelStatus {
	m := ms.Spec.Predictor.Model
	if m == nil {
		return nil
	}
	out := &mlv1.ModelStatus{Name: ms.Name, Format: m.ModelFormat.Name}
	if old := ms.Status.Model; old != nil && old.Revision != "" && old.Format == out.Format {
		*out = *old // the serving revision's metadata, until a newer one reports
	}
	if !latestReady || out.Revision == rev.name || r.Options.NoModelMetadata {
		return out
	}
	for i := range pods {
		p := &pods[i]
		if p.Labels[LabelRevision] != rev.name || !podReady(p) || p.Status.PodIP == "" {
			continue
		}
		inputs, outputs, err := fetchMetadata(ctx, p.Status.PodIP, ms.Name)
		if err != nil {
			log.FromContext(ctx).V(1).Info("No model metadata", "pod", p.Name, "error", err.Error())
			return out
		}
		return &mlv1.ModelStatus{Name: ms.Name, Format: m.ModelFormat.Name, Revision: rev.name, Inputs: inputs, Outputs: outputs}
	}
	return out
}

// fetchMetadata reads GET /v2/models/<name> of the model server at ip.
func fetchMetadata(ctx context.Context, ip, name string) ([]mlv1.TensorSpec, []mlv1.TensorSpec, error) {
	url := fmt.Sprintf("http://%s/v2/models/%s", net.JoinHostPort(ip, strconv.Itoa(httpPort)), name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := metadataClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var md struct {
		Inputs  []mlv1.TensorSpec `json:"inputs"`
		Outputs []mlv1.TensorSpec `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", url, err)
	}
	return md.Inputs, md.Outputs, nil
}
