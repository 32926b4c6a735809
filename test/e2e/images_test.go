package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImageMap maps the seed's model-API image to a local folder with
// images.yaml, and runs it with no command, as the seed's manifest does.
func TestImageMap(t *testing.T) {
	in := newInstance(t)
	app := t.TempDir()
	script := "import os\nprint('model api from', os.getcwd(), 'model', os.environ['MODEL_FILE'])\n"
	if err := os.WriteFile(filepath.Join(app, "api.py"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	in.writeImageMap(t, "images:\n- image: \"lpatruno/k8-model-api:*\"\n  dir: "+app+"\n  command: [python3, api.py]\n  env: {MODEL_FILE: model.pkl}\n")
	in.up("--write-kubeconfig=false")
	in.mustKubectl("run", "api", "--image=lpatruno/k8-model-api:latest", "--restart=Never")
	in.waitPhase(t, "api", "Succeeded")
	if out := in.mustKubectl("logs", "api"); out != "model api from "+app+" model model.pkl\n" {
		t.Errorf("logs = %q", out)
	}
	if out := in.mustKubectl("describe", "pod", "api"); !strings.Contains(out, "images.yaml:2 maps it to "+app) {
		t.Errorf("describe does not say how the image was mapped:\n%s", out)
	}

	t.Run("drop-ins compose, and the node says how a reload went", func(t *testing.T) {
		dropIn := filepath.Join(in.dataDir, "images.d", "tools.yaml")
		writeFile(t, dropIn, "images:\n- image: \"tools:*\"\n  command: [skiff, version]\n")
		in.waitNodeEvent(t, "ImageMapLoaded", "image map reloaded: 2 entries from images.yaml, images.d/tools.yaml")
		in.mustKubectl("run", "tools", "--image=tools:1", "--restart=Never")
		in.waitPhase(t, "tools", "Succeeded")
		if out := in.mustKubectl("logs", "tools"); !strings.Contains(out, "skiff") {
			t.Errorf("skiff version in a pod printed %q", out)
		}

		// What `cat >> images.yaml` of a second map used to do.
		appendFile(t, filepath.Join(in.dataDir, "images.yaml"), "images:\n- image: \"more:*\"\n")
		in.waitNodeEvent(t, "ImageMapInvalid", `images.yaml: line 6: mapping key "images" already defined at line 1; its previous entries are kept`)
		in.mustKubectl("run", "api2", "--image=lpatruno/k8-model-api:latest", "--restart=Never")
		in.waitPhase(t, "api2", "Succeeded")
		eventually(t, 30*time.Second, "the pod's warning", func() error {
			if out := in.mustKubectl("describe", "pod", "api2"); !strings.Contains(out, "ImageMapWarning") || !strings.Contains(out, "images.yaml: line 6") {
				return fmt.Errorf("describe pod api2 has no image map warning:\n%s", out)
			}
			return nil
		})
		in.writeImageMap(t, "images:\n- image: \"lpatruno/k8-model-api:*\"\n  dir: "+app+"\n  command: [python3, api.py]\n- image: \"more:*\"\n  args: [\"true\"]\n")
		in.waitNodeEvent(t, "ImageMapLoaded", "image map reloaded: 3 entries from images.yaml, images.d/tools.yaml")
	})

	t.Run("common base images run the host's program", func(t *testing.T) {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			t.Fatalf("this test needs the host's nginx (apt-get install nginx-light; .ci/run installs it): %v", err)
		}
		// The README's first Deployment.
		in.mustKubectl("create", "deployment", "web", "--image=nginx", "--replicas=2")
		in.mustKubectl("rollout", "status", "deployment/web", "--timeout=90s")
		ip := in.jsonpath("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}")
		eventually(t, 30*time.Second, "nginx answers", func() error {
			out, err := exec.Command("curl", "-sS", "--max-time", "5", "http://"+ip+"/").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "nginx") {
				return fmt.Errorf("curl %s: %v %s", ip, err, out)
			}
			return nil
		})
		in.mustKubectl("run", "py", "--image=python:3.11", "--restart=Never")
		in.waitPhase(t, "py", "Succeeded")
		in.mustKubectl("delete", "deployment", "web", "--wait=false")
	})

	t.Run("a broken map is refused at start", func(t *testing.T) {
		in.down()
		if err := os.WriteFile(filepath.Join(in.dataDir, "images.yaml"), []byte("images:\n- dir: /tmp\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, in, in.upArgs("--write-kubeconfig=false"), "images.yaml", "no image pattern")
	})
}

// waitNodeEvent waits for an event on the node with reason and a message
// containing want.
func (in *instance) waitNodeEvent(t *testing.T, reason, want string) {
	t.Helper()
	in.waitEvent(t, "kind=Node", reason, want)
}

// waitEvent waits for an event of reason, about the object the field
// selector names ("kind=Service,involvedObject.name=web"), whose message
// holds want.
func (in *instance) waitEvent(t *testing.T, object, reason, want string) {
	t.Helper()
	eventually(t, 30*time.Second, reason+" on "+object, func() error {
		out, err := in.kubectl("get", "events", "--field-selector", "involvedObject."+object+",reason="+reason, "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}")
		if err != nil || !strings.Contains(out, want) {
			return fmt.Errorf("events %s on %s: %v\n%s", reason, object, err, out)
		}
		return nil
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}
