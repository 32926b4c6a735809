package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if out := in.mustKubectl("describe", "pod", "api"); !strings.Contains(out, "images.yaml maps it to "+app) {
		t.Errorf("describe does not say how the image was mapped:\n%s", out)
	}

	t.Run("a broken map is refused at start", func(t *testing.T) {
		in.down()
		if err := os.WriteFile(filepath.Join(in.dataDir, "images.yaml"), []byte("images:\n- dir: /tmp\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, in, in.upArgs("--write-kubeconfig=false"), "images.yaml", "no image pattern")
	})
}
