package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// userConfig builds a kubeconfig as a user would have it, with other clusters.
func userConfig(contexts ...string) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	for _, name := range contexts {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: "https://" + name + ".example:6443"}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "token-" + name}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "ns-" + name}
	}
	if len(contexts) > 0 {
		cfg.CurrentContext = contexts[0]
	}
	return cfg
}

func skiffConfig(t *testing.T, server string) *clientcmdapi.Config {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "admin.crt", "admin.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("data-"+f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Build(Client{Name: "skiff", Server: server, CAFile: filepath.Join(dir, "ca.crt"),
		CertFile: filepath.Join(dir, "admin.crt"), KeyFile: filepath.Join(dir, "admin.key"), Embed: true})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestMergeKeepsOtherContexts(t *testing.T) {
	tests := []struct {
		name         string
		existing     *clientcmdapi.Config // nil: no file yet
		wantContexts []string
	}{
		{"no kubeconfig yet", nil, []string{"skiff"}},
		{"other clusters", userConfig("prod", "staging"), []string{"prod", "skiff", "staging"}},
		{"replaces an old skiff entry", userConfig("skiff", "prod"), []string{"prod", "skiff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".kube", "config")
			if tt.existing != nil {
				if err := Write(path, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := Merge(path, skiffConfig(t, "https://127.0.0.1:7443"), "skiff"); err != nil {
				t.Fatal(err)
			}
			got, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for n := range got.Contexts {
				names = append(names, n)
			}
			if diff := cmp.Diff(tt.wantContexts, names, sortStrings); diff != "" {
				t.Errorf("contexts (-want +got):\n%s", diff)
			}
			if got.CurrentContext != "skiff" {
				t.Errorf("current context = %q, want skiff", got.CurrentContext)
			}
			if s := got.Clusters["skiff"].Server; s != "https://127.0.0.1:7443" {
				t.Errorf("skiff server = %q", s)
			}
			if string(got.AuthInfos["skiff"].ClientKeyData) != "data-admin.key" {
				t.Errorf("client key not embedded")
			}
			if got.Clusters["skiff"].InsecureSkipTLSVerify {
				t.Error("skiff cluster skips TLS verification")
			}
			if tt.existing != nil {
				for name, want := range tt.existing.Contexts {
					if name == "skiff" {
						continue
					}
					if diff := cmp.Diff(want.Namespace, got.Contexts[name].Namespace); diff != "" {
						t.Errorf("context %s changed (-want +got):\n%s", name, diff)
					}
					if diff := cmp.Diff(tt.existing.AuthInfos[name].Token, got.AuthInfos[name].Token); diff != "" {
						t.Errorf("user %s changed (-want +got):\n%s", name, diff)
					}
				}
			}
			fi, _ := os.Stat(path)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("kubeconfig mode %o, want 600", fi.Mode().Perm())
			}
		})
	}
}

func TestMergeLeavesUnreadableConfigAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	garbage := []byte("clusters: [this is: not: valid")
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Merge(path, skiffConfig(t, "https://127.0.0.1:6443"), "skiff")
	if err == nil || !strings.Contains(err.Error(), "left it alone") {
		t.Fatalf("Merge error = %v, want one saying the file was left alone", err)
	}
	after, _ := os.ReadFile(path)
	if diff := cmp.Diff(string(garbage), string(after)); diff != "" {
		t.Errorf("unreadable kubeconfig was modified (-want +got):\n%s", diff)
	}
}

func TestBuildByPathReferencesFiles(t *testing.T) {
	cfg, err := Build(Client{Name: "scheduler", Server: "https://127.0.0.1:6443", CAFile: "/p/ca.crt", CertFile: "/p/s.crt", KeyFile: "/p/s.key"})
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.AuthInfos["scheduler"]
	if diff := cmp.Diff([]string{"/p/ca.crt", "/p/s.crt", "/p/s.key"},
		[]string{cfg.Clusters["scheduler"].CertificateAuthority, got.ClientCertificate, got.ClientKey}); diff != "" {
		t.Errorf("file references (-want +got):\n%s", diff)
	}
}

var sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })
