package operator

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/skiff-dev/skiff/config/crd"
	gatewayapi "github.com/skiff-dev/skiff/config/gateway-api"
)

// CRDs are the embedded CustomResourceDefinitions of the ML kinds.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) { return readCRDs(crd.Files) }

// GatewayAPICRDs are the embedded standard-channel Gateway API CRDs.
func GatewayAPICRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return readCRDs(gatewayapi.Files)
}

func readCRDs(fsys fs.ReadFileFS) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := fsys.ReadFile(f)
		if err != nil {
			return nil, err
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, c); err != nil {
			return nil, fmt.Errorf("embedded CRD %s: %w", f, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// InstallCRDs applies the embedded ML CRDs (server-side, so an older
// version is upgraded in place) and waits until the API serves them.
func InstallCRDs(ctx context.Context, c client.Client) error {
	crds, err := CRDs()
	if err != nil {
		return err
	}
	return applyCRDs(ctx, c, crds)
}

func applyCRDs(ctx context.Context, c client.Client, crds []*apiextensionsv1.CustomResourceDefinition) error {
	for _, want := range crds {
		if err := c.Patch(ctx, want, client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil { //nolint:staticcheck // a typed object applies as it is
			return fmt.Errorf("install CRD %s: %w", want.Name, err)
		}
	}
	for _, want := range crds {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			var got apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, client.ObjectKey{Name: want.Name}, &got); err != nil {
				return false, nil
			}
			return established(&got), nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s was not established: %w", want.Name, err)
		}
	}
	return nil
}

func established(c *apiextensionsv1.CustomResourceDefinition) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}
