// Command podstart measures pod start latency on a running skiff: for each
// of N pods, the time from create to Running (seen through a watch) and to
// the container's first line of output (the command prints its own start
// time), beside the time to fork/exec the same command directly.
//
//	go run ./bench/podstart -kubeconfig ~/.skiff/kubeconfig -n 100
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "podstart:", err)
		os.Exit(1)
	}
}

const script = "date +%s%N; sleep 1"

func run() error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("HOME")+"/.skiff/kubeconfig", "kubeconfig of the cluster")
	n := flag.Int("n", 100, "pods to start, one after another")
	namespace := flag.String("namespace", "podstart-bench", "namespace to create (and delete)")
	skiffPID := flag.Int("skiff-pid", 0, "pid of skiff: also run the 100-completion Job and report skiff's CPU per pod")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *namespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return err
	}
	defer client.CoreV1().Namespaces().Delete(context.Background(), *namespace, metav1.DeleteOptions{})
	if err := waitForServiceAccount(ctx, client, *namespace); err != nil {
		return err
	}

	var toRunning, toOutput []time.Duration
	for i := range *n {
		r, o, err := startOne(ctx, client, *namespace, fmt.Sprintf("p%03d", i))
		if err != nil {
			return err
		}
		toRunning, toOutput = append(toRunning, r), append(toOutput, o)
	}
	var direct []time.Duration
	for range *n {
		d, err := forkExec()
		if err != nil {
			return err
		}
		direct = append(direct, d)
	}
	fmt.Printf("| measure (%d pods) | p50 | p99 |\n|---|---|---|\n", *n)
	row := func(name string, d []time.Duration) {
		fmt.Printf("| %s | %s | %s |\n", name, pct(d, 50), pct(d, 99))
	}
	row("create to Running (watch)", toRunning)
	row("create to first output line", toOutput)
	row("fork/exec of the same command, to its output", direct)
	fmt.Printf("\nratio of p50 create-to-output to p50 fork/exec: %.0fx\n",
		float64(percentile(toOutput, 50))/float64(percentile(direct, 50)))
	if *skiffPID > 0 {
		return runJob(ctx, client, *namespace, *skiffPID)
	}
	return nil
}

// runJob runs a 100-completion Job with parallelism 20 of a short command
// and reports its wall time and the CPU skiff used per pod.
func runJob(ctx context.Context, client kubernetes.Interface, ns string, pid int) error {
	completions, parallelism := int32(100), int32(20)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "burst"},
		Spec: batchv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: new(int64),
				Containers:                    []corev1.Container{{Name: "c", Image: "bench", Command: []string{"sh", "-c", "echo done"}}},
			}},
		},
	}
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return err
	}
	for {
		j, err := client.BatchV1().Jobs(ns).Get(ctx, "burst", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if j.Status.Succeeded == completions {
			break
		}
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("job not done after 5m: %d succeeded", j.Status.Succeeded)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wall := time.Since(start)
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	fmt.Printf("\n| Job: 100 completions, parallelism 20 | value |\n|---|---|\n")
	fmt.Printf("| wall time | %s |\n", wall.Round(10*time.Millisecond))
	fmt.Printf("| skiff CPU per pod | %.1f ms |\n", (cpu1-cpu0)*1000/float64(completions))
	return nil
}

// cpuSeconds reads a process's user+system CPU time (including its
// reaped children: the sandbox helpers) from /proc.
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var ticks float64
	for _, i := range []int{11, 12} { // utime, stime (fields 14, 15)
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return ticks / 100, nil // USER_HZ
}

func waitForServiceAccount(ctx context.Context, client kubernetes.Interface, ns string) error {
	for range 100 {
		if _, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no default service account in %s", ns)
}

// startOne creates a pod and returns how long until it ran and printed.
func startOne(ctx context.Context, client kubernetes.Interface, ns, name string) (time.Duration, time.Duration, error) {
	pods := client.CoreV1().Pods(ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return 0, 0, err
	}
	defer w.Stop()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: new(int64),
			AutomountServiceAccountToken:  new(bool),
			Containers:                    []corev1.Container{{Name: "c", Image: "bench", Command: []string{"sh", "-c", script}}},
		},
	}
	created := time.Now()
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return 0, 0, err
	}
	var running time.Duration
	timeout := time.After(30 * time.Second)
	for running == 0 {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Modified && ok && (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded) {
				running = time.Since(created)
			}
		case <-timeout:
			return 0, 0, fmt.Errorf("pod %s not running after 30s", name)
		}
	}
	var printed time.Time
	for printed.IsZero() {
		raw, err := pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if line := strings.TrimSpace(string(raw)); err == nil && line != "" {
			ns, perr := strconv.ParseInt(line, 10, 64)
			if perr != nil {
				return 0, 0, fmt.Errorf("pod %s printed %q", name, line)
			}
			printed = time.Unix(0, ns)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return running, printed.Sub(created), nil
}

// forkExec runs the command directly and returns launch-to-output time.
func forkExec() (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command("sh", "-c", "date +%s%N").Output()
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, err
	}
	return time.Unix(0, ns).Sub(start), nil
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(min(i, len(s))-1, 0)]
}

func pct(d []time.Duration, p int) string {
	return percentile(d, p).Round(100 * time.Microsecond).String()
}
