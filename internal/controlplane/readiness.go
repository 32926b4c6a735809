package controlplane

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/skiff-dev/skiff/internal/pki"
)

// waitReady polls /readyz (less the excluded checks) until the API server
// says it is ready, it exits, or two minutes pass.
func (c *Config) waitReady(ctx context.Context, apiserver chan error, exclude []string) error {
	p := c.Layout.PKI
	client, err := pki.HTTPClient(p.CACert, p.AdminCert, p.AdminKey, 5*time.Second)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	q := url.Values{"exclude": exclude}
	readyz := c.APIServerURL() + "/readyz?" + q.Encode()
	last := ""
	for {
		select {
		case err := <-apiserver:
			apiserver <- err // still the caller's to read
			return fmt.Errorf("kube-apiserver exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("kube-apiserver not ready after 2m (last answer: %s; see %s)", last, c.Layout.LogFile)
		case <-tick.C:
		}
		resp, err := client.Get(readyz)
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
}
