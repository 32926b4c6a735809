// Package kubeconfig writes the kubeconfig files skiff hands out and merges
// skiff's context into a user's kubeconfig without touching anything else in
// it.
package kubeconfig

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/skiff-dev/skiff/internal/atomicfile"
)

// Client describes one client identity talking to one API server.
type Client struct {
	Name     string // cluster, user and context name
	Server   string // https URL
	CAFile   string
	CertFile string
	KeyFile  string
	// Embed copies the certificates into the file, so it still works when
	// copied elsewhere; otherwise the file references them by path.
	Embed bool
}

// Build returns a kubeconfig with one cluster, user and context, selected.
func Build(c Client) (*clientcmdapi.Config, error) {
	cluster := clientcmdapi.NewCluster()
	cluster.Server = c.Server
	user := clientcmdapi.NewAuthInfo()
	if c.Embed {
		var err error
		if cluster.CertificateAuthorityData, err = os.ReadFile(c.CAFile); err != nil {
			return nil, fmt.Errorf("reading CA for kubeconfig: %w", err)
		}
		if user.ClientCertificateData, err = os.ReadFile(c.CertFile); err != nil {
			return nil, fmt.Errorf("reading client certificate for kubeconfig: %w", err)
		}
		if user.ClientKeyData, err = os.ReadFile(c.KeyFile); err != nil {
			return nil, fmt.Errorf("reading client key for kubeconfig: %w", err)
		}
	} else {
		cluster.CertificateAuthority = c.CAFile
		user.ClientCertificate = c.CertFile
		user.ClientKey = c.KeyFile
	}
	ctx := clientcmdapi.NewContext()
	ctx.Cluster, ctx.AuthInfo, ctx.Namespace = c.Name, c.Name, "default"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = cluster
	cfg.AuthInfos[c.Name] = user
	cfg.Contexts[c.Name] = ctx
	cfg.CurrentContext = c.Name
	return cfg, nil
}

// Write serialises cfg to path atomically, readable by the owner only.
func Write(path string, cfg *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encoding kubeconfig %s: %w", path, err)
	}
	return atomicfile.Write(path, data, 0o600)
}

// Merge puts the cluster, user and context named name from src into the
// kubeconfig at dst (created if missing), replacing only entries of that
// name, and makes it the current context. Every other entry, preference and
// extension in dst is kept. A dst that does not parse is left untouched.
func Merge(dst string, src *clientcmdapi.Config, name string) error {
	existing, err := clientcmd.LoadFromFile(dst)
	switch {
	case errors.Is(err, os.ErrNotExist):
		existing = clientcmdapi.NewConfig()
	case err != nil:
		return fmt.Errorf("kubeconfig %s cannot be read, so skiff left it alone (fix it, or use --write-kubeconfig=false): %w", dst, err)
	}
	cluster, ok1 := src.Clusters[name]
	user, ok2 := src.AuthInfos[name]
	ctx, ok3 := src.Contexts[name]
	if !ok1 || !ok2 || !ok3 {
		return fmt.Errorf("kubeconfig to merge has no complete entry %q", name)
	}
	existing.Clusters[name] = cluster
	existing.AuthInfos[name] = user
	existing.Contexts[name] = ctx
	existing.CurrentContext = name
	return Write(dst, existing)
}

// UserPath returns the kubeconfig skiff merges into: ~/.kube/config.
func UserPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding ~/.kube/config: %w", err)
	}
	return home + "/.kube/config", nil
}
