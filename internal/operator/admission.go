package operator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/config/admission"
)

// AdmissionPolicies are the embedded admission policies of the ML kinds.
func AdmissionPolicies() ([]*unstructured.Unstructured, error) {
	files, err := fs.Glob(admission.Files, "*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		data, err := admission.Files.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("embedded admission policy %s: %w", f, err)
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// InstallAdmissionPolicies applies the embedded admission policies
// (server-side, so an older version is upgraded in place).
func InstallAdmissionPolicies(ctx context.Context, c client.Client) error {
	policies, err := AdmissionPolicies()
	if err != nil {
		return err
	}
	for _, p := range policies {
		if err := c.Patch(ctx, p, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil { //nolint:staticcheck // an unstructured object applies as it is
			return fmt.Errorf("install %s %s: %w", p.GetKind(), p.GetName(), err)
		}
	}
	return nil
}

// awaitAdmissionPolicies waits until the API server applies the policies
// to Models: it learns a new CRD's schema some seconds after the CRD is
// served, and refuses the kind's policies until then (ServiceUnavailable).
// A dry-run create is the probe; it stores nothing.
func awaitAdmissionPolicies(ctx context.Context, c client.Client) error {
	probe := &mlv1.Model{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "skiff-admission-probe"},
		Spec: mlv1.RegisteredModelSpec{Aliases: map[string]int64{"probe": 1}}}
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := c.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		switch {
		case err == nil, apierrors.IsAlreadyExists(err):
			return true, nil
		case apierrors.IsServiceUnavailable(err), apierrors.IsNotFound(err):
			return false, nil
		default:
			return false, fmt.Errorf("probing the admission policies of models: %w", err)
		}
	})
}
