package experiment

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

func jobRunning(command, args []string) *batchv1.Job {
	job := &batchv1.Job{}
	job.Spec.Template.Spec.Containers = []corev1.Container{{Name: "side"}, {Name: "train", Command: command, Args: args}}
	return job
}

func TestWrapForFile(t *testing.T) {
	job := jobRunning([]string{"python3", "train.py"}, []string{"--lr", "0.1"})
	if err := wrapForFile(job, "train", "/out/metrics.log"); err != nil {
		t.Fatal(err)
	}
	c := job.Spec.Template.Spec.Containers[1]
	want := []string{"sh", "-c", fileWrapper, "skiff-metrics-file", "/out/metrics.log", "python3", "train.py", "--lr", "0.1"}
	if diff := cmp.Diff(want, c.Command); diff != "" || c.Args != nil {
		t.Errorf("wrapped command (-want +got):\n%s\nargs %q", diff, c.Args)
	}
	if len(job.Spec.Template.Spec.Containers[0].Command) != 0 {
		t.Errorf("another container was changed: %v", job.Spec.Template.Spec.Containers[0].Command)
	}
	err := wrapForFile(jobRunning(nil, []string{"--lr", "0.1"}), "train", "/out/metrics.log")
	if err == nil || !strings.Contains(err.Error(), `give the container a command`) {
		t.Errorf("no command: %v", err)
	}
	err = wrapForFile(jobRunning([]string{"x"}, nil), "trainer", "/m")
	if err == nil || !strings.Contains(err.Error(), `primaryContainerName "trainer" is not a container`) {
		t.Errorf("no such container: %v", err)
	}
}

// wrapped runs a shell script through the wrapper, the metrics file (in
// a folder that does not exist yet) its $0.
func wrapped(t *testing.T, script string) (*exec.Cmd, *lockedBuffer) {
	file := filepath.Join(t.TempDir(), "logs", "metrics.log")
	job := jobRunning([]string{"sh", "-c", script, file}, nil)
	if err := wrapForFile(job, "train", file); err != nil {
		t.Fatal(err)
	}
	run := job.Spec.Template.Spec.Containers[1].Command
	cmd := exec.Command(run[0], run[1:]...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, out
}

// TestFileWrapperCopiesTheFileAfterTheCommand: the program's output comes
// first, untouched, and even when its last line has no newline the file's
// lines follow on lines of their own, marked (a last line without a
// newline too); the program's exit code is the container's. Without sed
// the shell's own loop copies the same.
func TestFileWrapperCopiesTheFileAfterTheCommand(t *testing.T) {
	t.Run("with sed", func(t *testing.T) { copiesTheFile(t, os.Getenv("PATH")) })
	t.Run("without sed", func(t *testing.T) { copiesTheFile(t, "/nonexistent") })
}

func copiesTheFile(t *testing.T, path string) {
	cmd, out := wrapped(t, `printf accuracy=0.1; printf 'accuracy=0.5\nloss=2\naccuracy=0.7' > "$0"; exit 3`)
	cmd.Args[5] = "/bin/sh" // the program, found without PATH
	cmd.Env = []string{"PATH=" + path}
	if err := os.MkdirAll(filepath.Dir(cmd.Args[8]), 0o755); err != nil { // no mkdir without PATH
		t.Fatal(err)
	}
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit: %v, want code 3; output:\n%s", err, out)
	}
	// sed keeps a last line without its newline; the shell's loop adds it.
	want := "accuracy=0.1\n" + metricsMark + "accuracy=0.5\n" + metricsMark + "loss=2\n" + metricsMark + "accuracy=0.7"
	if diff := cmp.Diff(want, strings.TrimSuffix(out.String(), "\n")); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	var got []string
	read := collectedLines(&mlv1.Trial{Spec: mlv1.TrialSpec{MetricsCollector: &mlv1.MetricsCollectorSpec{Collector: &mlv1.CollectorSpec{Kind: mlv1.CollectorFile}}}},
		func(l string) { got = append(got, l) })
	for _, l := range strings.Split(out.String(), "\n") {
		read(l)
	}
	if diff := cmp.Diff([]string{"accuracy=0.5", "loss=2", "accuracy=0.7"}, got); diff != "" {
		t.Errorf("collected lines (-want +got):\n%s", diff)
	}
}

// TestFileWrapperPassesSIGTERMOn: a trial stopped early ends at once, with
// the program's exit code, the file still copied.
func TestFileWrapperPassesSIGTERMOn(t *testing.T) {
	// dash waits for its children; bash reaps them as they end.
	for _, shell := range []string{"sh", "bash"} {
		t.Run(shell, func(t *testing.T) { passesSIGTERMOn(t, shell) })
	}
}

func passesSIGTERMOn(t *testing.T, shell string) {
	path, err := exec.LookPath(shell)
	if err != nil {
		t.Skipf("no %s: %v", shell, err)
	}
	cmd, out := wrapped(t, `echo loss=1 > "$0"; trap 'echo loss=0.5 >> "$0"; exit 7' TERM; echo started; while :; do sleep 0.05; done`)
	cmd.Path = path
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "started") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the wrapper took %s to end after SIGTERM", took)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Errorf("exit: %v, want the program's own code 7", err)
	}
	if want := metricsMark + "loss=1\n" + metricsMark + "loss=0.5\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("output %q does not end with the file's lines %q", out.String(), want)
	}
}

// lockedBuffer is output a test reads while the process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
