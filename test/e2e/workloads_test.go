package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWorkloads drives the upstream controllers' workloads on the node.
func TestWorkloads(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false")

	t.Run("job with completions and parallelism", func(t *testing.T) {
		in.apply(t, `apiVersion: batch/v1
kind: Job
metadata: {name: train}
spec:
  completions: 4
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: train, image: python:3.6, command: ["python3", "-c", "print('epoch done')"]}
`)
		in.waitJSONPath(t, 90*time.Second, "4", "get", "job", "train", "-o", "jsonpath={.status.succeeded}")
	})
	t.Run("failing job retries then fails", func(t *testing.T) {
		in.apply(t, `apiVersion: batch/v1
kind: Job
metadata: {name: broken}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: broken, image: python:3.6, command: ["sh", "-c", "exit 2"]}
`)
		in.waitJSONPath(t, 90*time.Second, "True", "get", "job", "broken", "-o", `jsonpath={.status.conditions[?(@.type=="Failed")].status}`)
		if n, _ := strconv.Atoi(in.jsonpath("get", "job", "broken", "-o", "jsonpath={.status.failed}")); n != 2 {
			t.Errorf("failed pods = %d, want 2 (one try plus one retry)", n)
		}
	})
	t.Run("indexed job", func(t *testing.T) {
		in.apply(t, `apiVersion: batch/v1
kind: Job
metadata: {name: shards}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: shard, image: python:3.6, command: ["sh", "-c", "echo shard $JOB_COMPLETION_INDEX"]}
`)
		in.waitJSONPath(t, 90*time.Second, "3", "get", "job", "shards", "-o", "jsonpath={.status.succeeded}")
		logs := in.mustKubectl("logs", "-l", "job-name=shards", "--prefix=false")
		for i := range 3 {
			if !strings.Contains(logs, fmt.Sprintf("shard %d", i)) {
				t.Errorf("no output of index %d in %q", i, logs)
			}
		}
	})
	t.Run("deployment scale, rollout and undo", func(t *testing.T) {
		in.mustKubectl("create", "deployment", "api", "--image=python:3.6", "--replicas=1", "--", "sleep", "3600")
		ready := func(n int) {
			in.waitJSONPath(t, 90*time.Second, strconv.Itoa(n), "get", "deployment", "api", "-o", "jsonpath={.status.readyReplicas}")
		}
		ready(1)
		in.mustKubectl("scale", "deployment", "api", "--replicas=5")
		ready(5)
		in.mustKubectl("scale", "deployment", "api", "--replicas=2")
		eventually(t, 90*time.Second, "2 pods", func() error {
			if n := len(strings.Fields(in.jsonpath("get", "pods", "-l", "app=api", "-o", "name"))); n != 2 {
				return fmt.Errorf("%d pods", n)
			}
			return nil
		})
		in.mustKubectl("set", "image", "deployment/api", "python=python:3.7")
		in.mustKubectl("rollout", "status", "deployment/api", "--timeout=90s")
		if img := in.jsonpath("get", "deployment", "api", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "python:3.7" {
			t.Errorf("image after rollout = %s", img)
		}
		in.mustKubectl("rollout", "undo", "deployment/api")
		in.mustKubectl("rollout", "status", "deployment/api", "--timeout=90s")
		if img := in.jsonpath("get", "deployment", "api", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "python:3.6" {
			t.Errorf("image after undo = %s", img)
		}
	})
	t.Run("statefulset stable names", func(t *testing.T) {
		in.apply(t, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: db, image: python:3.6, command: ["sh", "-c", "echo I am $HOSTNAME; exec sleep 3600"]}
`)
		in.waitJSONPath(t, 90*time.Second, "2", "get", "statefulset", "db", "-o", "jsonpath={.status.readyReplicas}")
		for _, name := range []string{"db-0", "db-1"} {
			eventually(t, 10*time.Second, "logs of "+name, func() error {
				if out, _ := in.kubectl("logs", name); strings.TrimSpace(out) != "I am "+name {
					return fmt.Errorf("logs %q", out)
				}
				return nil
			})
		}
	})
	t.Run("grace period and previous logs", func(t *testing.T) {
		in.apply(t, `apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: python:3.6
    command: ["sh", "-c", "trap 'echo got SIGTERM; exit 0' TERM; echo serving; while true; do sleep 0.2; done"]
`)
		in.waitPhase(t, "graceful", "Running")
		follow := exec.Command(kubectlBin, "--kubeconfig", in.kubeconfig(), "logs", "-f", "graceful")
		var out strings.Builder
		follow.Stdout = &out
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		start := time.Now()
		in.mustKubectl("delete", "pod", "graceful", "--wait=true", "--timeout=60s")
		took := time.Since(start)
		_ = follow.Wait()
		if !strings.Contains(out.String(), "serving") || !strings.Contains(out.String(), "got SIGTERM") {
			t.Errorf("logs -f saw %q, want the start and the SIGTERM handler", out.String())
		}
		// The handler ran (above); the pod object then goes within its
		// grace period (the node library removes it at the latest then).
		if took > 8*time.Second {
			t.Errorf("delete took %s, beyond the 5s grace period", took)
		}

		in.mustKubectl("run", "crashy", "--image=python:3.6", "--restart=Always", "--", "sh", "-c", "echo run at $(date +%s%N); sleep 1; exit 1")
		eventually(t, 60*time.Second, "a restart", func() error {
			if n, _ := strconv.Atoi(in.jsonpath("get", "pod", "crashy", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")); n < 1 {
				return fmt.Errorf("restartCount %d", n)
			}
			return nil
		})
		prev := in.mustKubectl("logs", "crashy", "--previous")
		if !strings.HasPrefix(prev, "run at ") {
			t.Errorf("--previous = %q", prev)
		}
	})
	t.Run("exec -it", func(t *testing.T) {
		in.mustKubectl("run", "shell", "--image=python:3.6", "--", "sleep", "3600")
		in.waitPhase(t, "shell", "Running")
		// script(1) gives kubectl a terminal, as a person's shell would.
		cmd := exec.Command("script", "-qec", kubectlBin+" --kubeconfig "+in.kubeconfig()+" exec -it shell -- sh -c 'tty; echo rows=$(stty size)'", "/dev/null")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("exec -it: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "/dev/pts/") {
			t.Errorf("exec -it did not get a terminal: %q", out)
		}
	})
	t.Run("run -ti, attach, cp", func(t *testing.T) {
		// The seed's `kubectl run python3 -ti ... bash`, with input typed
		// through script(1)'s terminal and --rm cleaning up.
		cmd := exec.Command("script", "-qec", kubectlBin+" --kubeconfig "+in.kubeconfig()+
			" run python3 -ti --image=python:3.6 --restart=Never --rm -- bash", "/dev/null")
		cmd.Stdin = strings.NewReader("echo from-$((6*7))\nexit\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run -ti: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "from-42") || !strings.Contains(string(out), "root@python3") {
			t.Errorf("run -ti did not reach an interactive bash in the pod: %q", out)
		}
		if _, err := in.kubectl("get", "pod", "python3"); err == nil {
			t.Error("--rm left the pod behind")
		}

		in.mustKubectl("run", "ticker", "--image=python:3.6", "--", "sh", "-c", "while true; do echo tick; sleep 0.2; done")
		in.waitPhase(t, "ticker", "Running")
		attach := exec.Command(kubectlBin, "--kubeconfig", in.kubeconfig(), "attach", "ticker")
		var seen strings.Builder
		attach.Stdout = &seen
		if err := attach.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		_ = attach.Process.Kill()
		_ = attach.Wait()
		if !strings.Contains(seen.String(), "tick\ntick\n") {
			t.Errorf("attach did not follow the output: %q", seen.String())
		}

		file := filepath.Join(t.TempDir(), "weights.txt")
		if err := os.WriteFile(file, []byte("0.5 0.25\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		in.mustKubectl("cp", file, "ticker:/tmp/weights.txt")
		if got := in.mustKubectl("exec", "ticker", "--", "cat", "/tmp/weights.txt"); got != "0.5 0.25\n" {
			t.Errorf("after cp into the pod, the file reads %q", got)
		}
		back := filepath.Join(t.TempDir(), "back.txt")
		in.mustKubectl("cp", "ticker:/tmp/weights.txt", back)
		if data, _ := os.ReadFile(back); string(data) != "0.5 0.25\n" {
			t.Errorf("cp out of the pod gave %q", data)
		}
	})
	t.Run("cronjob fires", func(t *testing.T) {
		in.mustKubectl("create", "cronjob", "nightly", "--image=python:3.6", "--schedule=* * * * *", "--", "echo", "batch inference")
		eventually(t, 100*time.Second, "a successful run", func() error {
			if in.jsonpath("get", "cronjob", "nightly", "-o", "jsonpath={.status.lastSuccessfulTime}") == "" {
				return fmt.Errorf("no successful run yet")
			}
			return nil
		})
		job := strings.Fields(in.jsonpath("get", "jobs", "-o", `jsonpath={.items[?(@.metadata.ownerReferences[0].name=="nightly")].metadata.name}`))
		if len(job) == 0 {
			t.Fatal("no job owned by the cronjob")
		}
		if logs := in.mustKubectl("logs", "job/"+job[0]); !strings.Contains(logs, "batch inference") {
			t.Errorf("cronjob run logs = %q", logs)
		}
	})
}
