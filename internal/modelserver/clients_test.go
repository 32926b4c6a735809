package modelserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func python(t *testing.T) string {
	t.Helper()
	if exec.Command("/usr/bin/python3", "-c", "import sklearn").Run() == nil {
		return "/usr/bin/python3"
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI needs /usr/bin/python3 with python3-sklearn")
	}
	t.Skip("needs python3-sklearn (apt-get install python3-sklearn)")
	return ""
}

// TestRealClients serves the seed's model (trained by examples/003's
// train.py, exported by skiff's exporter) and calls it with Python's urllib
// and with curl, as users do.
func TestRealClients(t *testing.T) {
	py := python(t)
	work := t.TempDir()
	train, err := os.ReadFile("../../examples/003-model-api/train.py")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "train.py"), train, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(py, filepath.Join(work, "train.py"))
	ts := newTestServer(t, map[string][2]string{}, Options{})
	if err := os.MkdirAll(filepath.Join(ts.dir, "housing", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(py, "../model/skiff_sklearn_export.py", filepath.Join(work, "model.pkl"), filepath.Join(ts.dir, "housing", "1", "model.json"))
	ts.write("housing/model.yaml", []byte("format: sklearn\n"))
	ts.srv.repo.Scan(t.Context())

	if out := run(py, "testdata/client.py", ts.base, filepath.Join(work, "model.pkl")); !strings.Contains(out, "ok: 5 rows agree") {
		t.Fatalf("client.py: %s", out)
	}
	curl := func(args ...string) string {
		return run(append([]string{"curl", "-sS", "--max-time", "10"}, args...)...)
	}
	if out := curl(ts.base + "/v2/health/ready"); out != `{"ready":true}` {
		t.Fatalf("curl ready: %s", out)
	}
	// The seed's curl call.
	seed := `{"CRIM": 0.1, "ZN": 18, "INDUS": 2.3, "CHAS": 0, "NOX": 0.5, "RM": 6.5, "AGE": 65, "DIS": 4, "RAD": 1, "TAX": 296, "PTRATIO": 15, "B": 396, "LSTAT": 5}`
	if out := curl("-X", "POST", "-H", "Content-Type: application/json", "-d", seed, ts.base+"/predict"); !strings.HasPrefix(out, `{"prediction":`) {
		t.Fatalf("curl /predict: %s", out)
	}
	if out := curl("-w", " %{http_code}", "-X", "POST", "-d", "{oops", ts.base+"/predict"); !strings.HasSuffix(out, " 400") || !strings.Contains(out, "malformed") {
		t.Fatalf("curl malformed: %s", out)
	}
}
