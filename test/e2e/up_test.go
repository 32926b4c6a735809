package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestUpKubectlDownUp is the main scenario: a real API that kubectl
// talks to, with RBAC, the controllers at work, and persistence over a restart.
func TestUpKubectlDownUp(t *testing.T) {
	in := newInstance(t)
	seedUserKubeconfig(t, in)
	in.up()

	t.Run("status", func(t *testing.T) {
		out, err := in.skiff("status")
		if err != nil {
			t.Fatalf("skiff status: %v\n%s", err, out)
		}
		for _, want := range []string{"running (pid", fmt.Sprintf("https://127.0.0.1:%d", in.apiPort), in.kubeconfig(), "kubernetes v1.37"} {
			if !strings.Contains(out, want) {
				t.Errorf("status output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("namespaces", func(t *testing.T) {
		out := in.mustKubectl("get", "ns", "-o", "name")
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			if !strings.Contains(out, "namespace/"+ns) {
				t.Errorf("namespace %s missing:\n%s", ns, out)
			}
		}
	})
	t.Run("api-resources", func(t *testing.T) {
		out := in.mustKubectl("api-resources", "-o", "name")
		for _, r := range []string{"deployments.apps", "jobs.batch", "cronjobs.batch", "horizontalpodautoscalers.autoscaling", "roles.rbac.authorization.k8s.io"} {
			if !slices.Contains(strings.Fields(out), r) {
				t.Errorf("api-resources lacks %s", r)
			}
		}
	})
	t.Run("rbac", func(t *testing.T) {
		sa := "--as=system:serviceaccount:default:default"
		if out, _ := in.kubectl("auth", "can-i", "create", "deployments", sa); strings.TrimSpace(out) != "no" {
			t.Errorf("default service account may create deployments: %q", out)
		}
		if out, _ := in.kubectl("auth", "can-i", "list", "secrets", "-n", "kube-system", sa); strings.TrimSpace(out) != "no" {
			t.Errorf("default service account may list kube-system secrets: %q", out)
		}
		if out := in.mustKubectl("auth", "can-i", "create", "deployments"); strings.TrimSpace(out) != "yes" {
			t.Errorf("admin may not create deployments: %q", out)
		}
		in.mustKubectl("create", "rolebinding", "sa-edit", "--clusterrole=edit", "--serviceaccount=default:default")
		eventually(t, 10*time.Second, "rolebinding takes effect", func() error {
			if out, _ := in.kubectl("auth", "can-i", "create", "deployments", sa); strings.TrimSpace(out) != "yes" {
				return fmt.Errorf("can-i = %q", out)
			}
			return nil
		})
	})
	t.Run("kubernetes service endpoint", func(t *testing.T) {
		var eps struct {
			Subsets []struct {
				Addresses []struct{ IP string } `json:"addresses"`
				Ports     []struct{ Port int }  `json:"ports"`
			} `json:"subsets"`
		}
		if err := in.getJSON(&eps, "endpoints", "kubernetes", "-n", "default"); err != nil {
			t.Fatal(err)
		}
		if len(eps.Subsets) == 0 || len(eps.Subsets[0].Addresses) == 0 {
			t.Fatalf("kubernetes endpoints have no address: %+v", eps)
		}
		if ip := eps.Subsets[0].Addresses[0].IP; strings.HasPrefix(ip, "127.") {
			t.Errorf("kubernetes endpoint is loopback %s", ip)
		}
		if p := eps.Subsets[0].Ports[0].Port; p != in.apiPort {
			t.Errorf("kubernetes endpoint port %d, want %d", p, in.apiPort)
		}
	})
	t.Run("deployment yields replicaset", func(t *testing.T) {
		in.mustKubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")
		eventually(t, 30*time.Second, "replicaset for web with 3 replicas and 3 pods", func() error {
			var rs struct {
				Items []struct {
					Spec   struct{ Replicas int }
					Status struct{ Replicas int }
				}
			}
			if err := in.getJSON(&rs, "replicasets", "-l", "app=web"); err != nil {
				return err
			}
			if len(rs.Items) != 1 || rs.Items[0].Spec.Replicas != 3 || rs.Items[0].Status.Replicas != 3 {
				return fmt.Errorf("replicasets: %+v", rs.Items)
			}
			return nil
		})
		var pods struct{ Items []any }
		if err := in.getJSON(&pods, "pods", "-l", "app=web"); err != nil || len(pods.Items) != 3 {
			t.Errorf("pods of web: %d (%v), want 3", len(pods.Items), err)
		}
	})
	t.Run("cronjob accepted", func(t *testing.T) {
		in.mustKubectl("create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *", "--", "echo", "hi")
		in.mustKubectl("get", "cronjob", "nightly")
	})
	t.Run("user kubeconfig merged", func(t *testing.T) {
		cfg, err := clientcmd.LoadFromFile(filepath.Join(in.home, ".kube", "config"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CurrentContext != "skiff" || cfg.Contexts["other"] == nil || cfg.AuthInfos["other"].Token != "keep-me" {
			t.Errorf("merged kubeconfig: current %q, contexts %v", cfg.CurrentContext, keys(cfg.Contexts))
		}
		if cfg.Clusters["skiff"].InsecureSkipTLSVerify {
			t.Error("merged kubeconfig skips TLS verification")
		}
	})

	in.down()
	if out, _ := in.skiff("status"); !strings.Contains(out, "stopped") {
		t.Errorf("status after down:\n%s", out)
	}
	if _, err := in.kubectl("get", "ns"); err == nil {
		t.Error("API still answers after skiff down")
	}

	in.up()
	t.Run("objects survive restart", func(t *testing.T) {
		in.mustKubectl("get", "deployment", "web")
		in.mustKubectl("get", "cronjob", "nightly")
		in.mustKubectl("get", "rolebinding", "sa-edit")
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// seedUserKubeconfig gives the test's HOME a kubeconfig with another
// context, which skiff must keep.
func seedUserKubeconfig(t *testing.T, in *instance) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["other"] = &clientcmdapi.Cluster{Server: "https://other.invalid:6443"}
	cfg.AuthInfos["other"] = &clientcmdapi.AuthInfo{Token: "keep-me"}
	cfg.Contexts["other"] = &clientcmdapi.Context{Cluster: "other", AuthInfo: "other"}
	cfg.CurrentContext = "other"
	if err := os.MkdirAll(filepath.Join(in.home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*cfg, filepath.Join(in.home, ".kube", "config")); err != nil {
		t.Fatal(err)
	}
}

// TestKill9ThenUp: a crashed skiff leaves a data dir the next up starts from.
func TestKill9ThenUp(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")
	in.mustKubectl("create", "configmap", "survivor", "--from-literal=k=v")
	pid := in.pid()
	if pid <= 0 {
		t.Fatal("no pid in lock file")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "skiff gone", func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("pid %d alive", pid)
		}
		return nil
	})
	in.up("--write-kubeconfig=false")
	if out := in.mustKubectl("get", "configmap", "survivor", "-o", "jsonpath={.data.k}"); out != "v" {
		t.Errorf("configmap after kill -9: %q", out)
	}
}
