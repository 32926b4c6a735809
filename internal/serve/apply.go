package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// FieldOwner is the field manager of what skiff serve applies.
const FieldOwner = "skiff-serve"

// Scale is the replica bounds of a served model.
type Scale struct {
	MinReplicas, MaxReplicas int32
}

// Object is the ModelService that serves p as namespace/name.
func Object(namespace, name string, p Placed, s Scale) *mlv1.ModelService {
	ms := &mlv1.ModelService{
		TypeMeta:   metav1.TypeMeta{APIVersion: mlv1.GroupVersion.String(), Kind: "ModelService"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: mlv1.ModelServiceSpec{Predictor: mlv1.PredictorSpec{
			Model:       &mlv1.ModelSpec{ModelFormat: mlv1.ModelFormat{Name: p.Format}, StorageURI: p.URI},
			MinReplicas: ptr.To(max(s.MinReplicas, 1)),
			MaxReplicas: s.MaxReplicas,
		}},
	}
	return ms
}

// Apply creates or updates ms (server-side apply: fields others set, such
// as a scaleTarget written by hand, stay).
func Apply(ctx context.Context, c client.Client, ms *mlv1.ModelService) error {
	obj := ms.DeepCopy()
	obj.Status = mlv1.ModelServiceStatus{}
	if err := c.Patch(ctx, obj, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil { //nolint:staticcheck // a typed object applies as it is
		return fmt.Errorf("apply modelservice %s/%s: %w", ms.Namespace, ms.Name, err)
	}
	*ms = *obj
	return nil
}

// ErrRevisionFailed means the new revision cannot become ready.
var ErrRevisionFailed = errors.New("the new revision failed")

// Wait polls the ModelService until its latest revision serves all
// traffic, calling progress with each new state, and fails early when
// the revision cannot become ready.
func Wait(ctx context.Context, c client.Client, key client.ObjectKey, timeout time.Duration, progress func(string)) (*mlv1.ModelService, error) {
	var ms mlv1.ModelService
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, key, &ms); err != nil {
			return false, fmt.Errorf("modelservice %s: %w", key, err)
		}
		done, state, err := readiness(&ms)
		if state != last {
			progress(state)
			last = state
		}
		return done, err
	})
	if wait.Interrupted(err) {
		return &ms, fmt.Errorf("modelservice %s not ready after %s: %s", key, timeout, last)
	}
	return &ms, err
}

// Answering waits, up to timeout, until something answers HTTP at url:
// Ready is the pods' readiness, and the Service's rules follow it by a
// moment, so the curl skiff serve suggests works when pasted at once. An
// address this machine cannot reach (another cluster's) is not waited for
// long.
func Answering(ctx context.Context, url string, timeout time.Duration) bool {
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) {
				return false, err // another cluster's name: nothing to wait for
			}
			return false, nil
		}
		resp.Body.Close()
		return true, nil
	})
	return err == nil
}

// readiness says whether ms is done, in a line for people, and why it
// never will be.
func readiness(ms *mlv1.ModelService) (bool, string, error) {
	st := ms.Status
	if st.ObservedGeneration < ms.Generation {
		return false, "waiting for the controller", nil
	}
	ready := meta.FindStatusCondition(st.Conditions, mlv1.ConditionReady)
	latest := meta.FindStatusCondition(st.Conditions, mlv1.ConditionLatestRevisionReady)
	switch {
	case ready != nil && ready.Status == metav1.ConditionTrue:
		return true, fmt.Sprintf("revision %s ready: %d/%d replicas", st.LatestCreatedRevision, st.ReadyReplicas, st.Replicas), nil
	case latest != nil && latest.Status == metav1.ConditionFalse:
		return false, latest.Message, fmt.Errorf("%w: %s (%s)", ErrRevisionFailed, latest.Message, latest.Reason)
	case ready != nil:
		return false, ready.Message, nil
	}
	return false, "waiting for the controller", nil
}
