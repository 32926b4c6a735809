package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// experimentStatus is what the tests read of an Experiment.
type experimentStatus struct {
	Status struct {
		Trials, TrialsSucceeded, TrialsFailed, TrialsEarlyStopped int
		TrialsRunning, TrialsPending                              int
		CurrentOptimalTrial                                       *struct {
			BestTrialName        string
			ParameterAssignments []struct{ Name, Value string }
			Observation          struct {
				Metrics []struct{ Name, Latest string }
			}
		}
		Conditions []struct{ Type, Status, Reason, Message string }
	}
}

func (in *instance) experiment(t *testing.T, name string) experimentStatus {
	t.Helper()
	var e experimentStatus
	if err := in.getJSON(&e, "experiment", name); err != nil {
		t.Fatal(err)
	}
	return e
}

// waitExperiment waits for the Experiment's condition to be True.
func (in *instance) waitExperiment(t *testing.T, name, condition string, timeout time.Duration) experimentStatus {
	t.Helper()
	var e experimentStatus
	eventually(t, timeout, "experiment "+name+" "+condition, func() error {
		e = in.experiment(t, name)
		for _, c := range e.Status.Conditions {
			if c.Type == condition && c.Status == "True" {
				return nil
			}
		}
		trials, _ := in.kubectl("get", "trials", "-l", "ml.skiff.dev/experiment="+name)
		return fmt.Errorf("conditions %+v\n%s", e.Status.Conditions, trials)
	})
	return e
}

// TestExperiment runs examples/002's search as one Experiment (TPE, three
// trials at a time, twelve in all), then a grid, and Experiments whose
// trials fail or never print the objective.
func TestExperiment(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false", "--gateway-port=0")
	ex := "../../examples/002-hyperparameter-search/"
	in.mustKubectl("create", "configmap", "elastic-net-code", "--from-file="+ex+"tune.py")

	t.Run("tpe", func(t *testing.T) {
		in.mustKubectl("apply", "-f", ex+"experiment.yaml")
		e := in.waitExperiment(t, "elastic-net", "Succeeded", 6*time.Minute)
		if e.Status.Trials != 12 || e.Status.TrialsSucceeded != 12 {
			t.Errorf("trials %d, succeeded %d, want 12 and 12", e.Status.Trials, e.Status.TrialsSucceeded)
		}
		best := e.Status.CurrentOptimalTrial
		if best == nil || best.BestTrialName == "" || len(best.ParameterAssignments) != 2 || len(best.Observation.Metrics) == 0 {
			t.Fatalf("no best trial: %+v", best)
		}
		t.Logf("best: %s %v cv_r2=%s", best.BestTrialName, best.ParameterAssignments, best.Observation.Metrics[0].Latest)
		if best.Observation.Metrics[0].Latest < "0.4" {
			t.Errorf("the best cv_r2 %s after 12 trials (an elastic net on the diabetes data reaches 0.48)", best.Observation.Metrics[0].Latest)
		}
		for _, c := range e.Status.Conditions {
			if c.Type == "Succeeded" && c.Reason != "MaxTrialsReached" {
				t.Errorf("Succeeded reason %s", c.Reason)
			}
		}
		trials := strings.Fields(in.jsonpath("get", "trials", "-l", "ml.skiff.dev/experiment=elastic-net", "-o", "jsonpath={.items[*].status.phase}"))
		if len(trials) != 12 {
			t.Errorf("%d trials listed, want 12: %v", len(trials), trials)
		}
		// One TrialSucceeded event a trial: a reconcile from a stale cache
		// must not record a result twice.
		recorded := strings.Fields(in.jsonpath("get", "events", "--field-selector", "reason=TrialSucceeded", "-o", "jsonpath={.items[*].involvedObject.name}"))
		if len(recorded) != 12 {
			t.Errorf("%d TrialSucceeded events, want one for each of the 12 trials: %v", len(recorded), recorded)
		}
		if n := in.jsonpath("get", "trials", "-l", "ml.skiff.dev/experiment=elastic-net", "-o", "jsonpath={.items[0].status.parametersSummary}"); !strings.Contains(n, "alpha=") {
			t.Errorf("a trial's parameters summary %q", n)
		}
		// Not retained: the trials' Jobs go once their results are in.
		eventually(t, time.Minute, "the trials' Jobs removed", func() error {
			if jobs := in.jsonpath("get", "jobs", "-l", "ml.skiff.dev/experiment=elastic-net", "-o", "name"); jobs != "" {
				return fmt.Errorf("jobs left: %s", jobs)
			}
			return nil
		})
		// A finished Experiment given a larger budget goes on.
		in.mustKubectl("patch", "experiment", "elastic-net", "--type=merge", "-p", `{"spec":{"maxTrialCount":14}}`)
		eventually(t, 2*time.Minute, "two more trials", func() error {
			e := in.experiment(t, "elastic-net")
			done := false
			for _, c := range e.Status.Conditions {
				done = done || c.Type == "Succeeded" && c.Status == "True"
			}
			if e.Status.Trials != 14 || e.Status.TrialsSucceeded != 14 || !done {
				return fmt.Errorf("%d trials, %d succeeded, conditions %+v", e.Status.Trials, e.Status.TrialsSucceeded, e.Status.Conditions)
			}
			return nil
		})
		table := in.mustKubectl("get", "experiments")
		if !strings.Contains(table, "elastic-net") || !strings.Contains(table, "Succeeded") {
			t.Errorf("kubectl get experiments:\n%s", table)
		}
		t.Logf("kubectl get experiments:\n%s", table)
	})

	t.Run("skiff tune", func(t *testing.T) {
		script, err := filepath.Abs(ex + "tune.py")
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"tune", script, "--name", "cli", "--param", "alpha=logUniform:0.0001:1", "--param", "l1-ratio=double:0:1",
			"--maximize", "cv_r2", "--trials", "6", "--parallel", "3", "--seed", "1", "--kubeconfig", in.kubeconfig()}
		dry, err := in.skiff(append(args, "--dry-run", "-o", "yaml")...)
		if err != nil || !strings.Contains(dry, "kind: Experiment") || !strings.Contains(dry, "--l1-ratio=${trialParameters.l1_ratio}") {
			t.Fatalf("skiff tune --dry-run -o yaml: %v\n%s", err, dry)
		}
		out, err := in.skiff(args...)
		if err != nil {
			t.Fatalf("skiff tune: %v\n%s", err, out)
		}
		for _, want := range []string{"trials 6/6", "cli MaxTrialsReached", "TRIAL", "best: cli-", "its log: kubectl logs -n default job/cli-"} {
			if !strings.Contains(out, want) {
				t.Errorf("skiff tune's output lacks %q:\n%s", want, out)
			}
		}
		best := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "its log: kubectl logs -n default ", 2)[1], "\n", 2)[0])
		if logs := in.mustKubectl("logs", best); !strings.Contains(logs, "cv_r2=") {
			t.Errorf("the best trial's log (%s): %q", best, logs)
		}
		if status, err := in.skiff("tune", "status", "cli", "--kubeconfig", in.kubeconfig()); err != nil || !strings.Contains(status, "trials 6/6") {
			t.Errorf("skiff tune status: %v\n%s", err, status)
		}
		if again, err := in.skiff(args...); err == nil || !strings.Contains(again, "experiment default/cli exists") {
			t.Errorf("skiff tune of an existing name: %v\n%s", err, again)
		}

		// On a terminal (script(1) gives it one) the bar and the best
		// trials are redrawn in place: cursor up over the last frame.
		live := append([]string{skiffBin}, args...)
		live[4] = "cli-tty" // the --name
		live = append(live, "--data-dir", in.dataDir)
		quoted := make([]string, len(live))
		for i, a := range live {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		tty := exec.Command("script", "-qec", strings.Join(quoted, " "), "/dev/null")
		tty.Env = append(os.Environ(), "HOME="+in.home)
		screen, err := tty.CombinedOutput()
		if err != nil {
			t.Fatalf("skiff tune on a terminal: %v\n%q", err, screen)
		}
		for _, want := range []string{"[##############################] 6/6", "cli-tty MaxTrialsReached", "best: cli-tty-"} {
			if !strings.Contains(string(screen), want) {
				t.Errorf("skiff tune on a terminal lacks %q:\n%q", want, screen)
			}
		}
		if !regexp.MustCompile(`\x1b\[[1-9][0-9]*F\x1b\[J\[#*\.*\] `).Match(screen) {
			t.Errorf("skiff tune on a terminal did not move up over a frame and draw the next:\n%q", screen)
		}
	})

	t.Run("grid", func(t *testing.T) {
		in.apply(t, gridExperiment)
		e := in.waitExperiment(t, "grid", "Succeeded", 4*time.Minute)
		if e.Status.Trials != 6 || e.Status.TrialsSucceeded != 6 {
			t.Errorf("trials %d, succeeded %d, want the 6 grid points", e.Status.Trials, e.Status.TrialsSucceeded)
		}
		got := strings.Split(in.jsonpath("get", "trials", "-l", "ml.skiff.dev/experiment=grid", "-o",
			`jsonpath={range .items[*]}{.spec.parameterAssignments[0].value} {.spec.parameterAssignments[1].value}{"\n"}{end}`), "\n")
		sort.Strings(got)
		want := []string{"0.01 0", "0.01 1", "0.1 0", "0.1 1", "1 0", "1 1"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("grid points %q, want %q", got, want)
		}
	})

	t.Run("a metric never printed", func(t *testing.T) {
		in.apply(t, strings.NewReplacer("name: grid", "name: silent", "objectiveMetricName: cv_r2", "objectiveMetricName: accuracy",
			"maxFailedTrialCount: 5", "maxFailedTrialCount: 0").Replace(gridExperiment))
		e := in.waitExperiment(t, "silent", "Failed", 3*time.Minute)
		for _, c := range e.Status.Conditions {
			if c.Type == "Failed" && c.Reason != "MaxFailedTrialsReached" {
				t.Errorf("Failed reason %s: %s", c.Reason, c.Message)
			}
		}
		// Two trials run at once and either may end first: the one that ended
		// the Experiment is whichever carries the condition.
		msg := in.jsonpath("get", "trials", "-l", "ml.skiff.dev/experiment=silent", "-o",
			`jsonpath={range .items[*]}{.status.conditions[?(@.type=="MetricsUnavailable")].message}{"\n"}{end}`)
		if !strings.Contains(msg, `metric "accuracy" was not reported`) || !strings.Contains(msg, "cv_r2=") {
			t.Errorf("the trials' messages %q should name the metric and show the lines seen", msg)
		}
	})

	t.Run("failing trials", func(t *testing.T) {
		in.apply(t, strings.NewReplacer("name: grid", "name: broken", "/app/tune.py", "/app/missing.py", "maxFailedTrialCount: 5", "maxFailedTrialCount: 1").Replace(gridExperiment))
		e := in.waitExperiment(t, "broken", "Failed", 3*time.Minute)
		if e.Status.TrialsFailed < 2 {
			t.Errorf("%d trials failed", e.Status.TrialsFailed)
		}
		if e.Status.Trials == 6 {
			t.Errorf("every grid point was tried: maxFailedTrialCount should have ended it")
		}
	})
}

// TestExperimentEdits: a File collector reads the metrics file the trial
// writes (not its output), and parallelTrialCount raised on a running
// Experiment gives it more trials at once.
func TestExperimentEdits(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false", "--gateway-port=0")

	t.Run("file collector", func(t *testing.T) {
		writer := `- |
                import sys
                x = float(sys.argv[1])
                print("loss=100")  # not what the File collector reads
                with open("/var/log/katib/metrics.log", "w") as f:
                    for step in range(1, 4):
                        f.write("step=%d loss=%.4f\n" % (step, x + 1.0 / step))`
		manifest := strings.Replace(curveExperiment("file", "random", "", "  metricsCollectorSpec: {collector: {kind: File}}", 3), `- |
                import sys, time
                x = float(sys.argv[1])
                for step in range(1, 11):
                    print("step=%d loss=%.4f" % (step, x + 1.0 / step), flush=True)
                    time.sleep(0.5)`, writer, 1)
		in.apply(t, manifest)
		e := in.waitExperiment(t, "file", "Succeeded", 3*time.Minute)
		if e.Status.TrialsSucceeded != 3 {
			t.Fatalf("%d trials succeeded, want 3", e.Status.TrialsSucceeded)
		}
		x := in.jsonpath("get", "trial", "file-0", "-o", `jsonpath={.spec.parameterAssignments[0].value}`)
		got := in.jsonpath("get", "trial", "file-0", "-o", `jsonpath={.status.observation.metrics[0].latest} {.status.history[*].step}`)
		var xv float64
		fmt.Sscan(x, &xv)
		if want := fmt.Sprintf("%g 1 2 3", mustParse(t, fmt.Sprintf("%.4f", xv+1.0/3))); got != want {
			t.Errorf("trial file-0 (x=%s): objective and steps %q, want %q (the file's best loss, and its 3 steps)", x, got, want)
		}
	})

	t.Run("parallelism raised while running", func(t *testing.T) {
		in.apply(t, strings.Replace(curveExperiment("wider", "random", "", "", 6), "parallelTrialCount: 3", "parallelTrialCount: 1", 1))
		eventually(t, time.Minute, "one trial running", func() error {
			if e := in.experiment(t, "wider"); e.Status.TrialsRunning+e.Status.TrialsPending != 1 {
				return fmt.Errorf("%d running, %d pending", e.Status.TrialsRunning, e.Status.TrialsPending)
			}
			return nil
		})
		in.mustKubectl("patch", "experiment", "wider", "--type=merge", "-p", `{"spec":{"parallelTrialCount":3}}`)
		eventually(t, 30*time.Second, "three trials at once", func() error {
			if e := in.experiment(t, "wider"); e.Status.TrialsRunning+e.Status.TrialsPending != 3 {
				return fmt.Errorf("%d running, %d pending, %d in all", e.Status.TrialsRunning, e.Status.TrialsPending, e.Status.Trials)
			}
			return nil
		})
		e := in.waitExperiment(t, "wider", "Succeeded", 3*time.Minute)
		if e.Status.Trials != 6 {
			t.Errorf("%d trials, want 6", e.Status.Trials)
		}
	})
}

func mustParse(t *testing.T, s string) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// curveExperiment's trials print a loss that falls with the step and is
// higher the higher x is, half a second a step, so early stopping has
// something to judge while they run.
func curveExperiment(name, algorithm, settings, earlyStopping string, maxTrials int) string {
	return `apiVersion: ml.skiff.dev/v1alpha1
kind: Experiment
metadata: {name: ` + name + `}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm: {algorithmName: ` + algorithm + `, algorithmSettings: [{name: random_state, value: "3"}` + settings + `]}
` + earlyStopping + `
  parallelTrialCount: 3
  maxTrialCount: ` + fmt.Sprint(maxTrials) + `
  parameters:
  - {name: x, parameterType: double, feasibleSpace: {min: "0", max: "1"}}
  trialTemplate:
    primaryContainerName: training
    trialParameters: [{name: x, reference: x}]
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            terminationGracePeriodSeconds: 1
            containers:
            - name: training
              image: python:3.6
              command:
              - python3
              - -c
              - |
                import sys, time
                x = float(sys.argv[1])
                for step in range(1, 11):
                    print("step=%d loss=%.4f" % (step, x + 1.0 / step), flush=True)
                    time.sleep(0.5)
              - ${trialParameters.x}
`
}

// TestExperimentEarlyStopping: medianstop, ASHA and Hyperband end trials
// whose intermediate loss is worse than the others' (EarlyStopped, their Jobs
// gone), and the Experiment still runs its maxTrialCount trials.
func TestExperimentEarlyStopping(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false", "--gateway-port=0")
	for _, tc := range []struct{ name, algorithm, settings, earlyStopping string }{
		{"median", "random", "", "  earlyStopping: {algorithmName: medianstop, algorithmSettings: [{name: min_trials_required, value: \"2\"}, {name: start_step, value: \"3\"}]}"},
		{"asha", "asha", `, {name: eta, value: "2"}, {name: min_resource, value: "2"}`, ""},
		// Three brackets (rungs from step 2, 4 and 8), trial n in bracket n mod 3.
		{"hyperband", "hyperband", `, {name: eta, value: "2"}, {name: min_resource, value: "2"}, {name: max_resource, value: "8"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in.apply(t, curveExperiment(tc.name, tc.algorithm, tc.settings, tc.earlyStopping, 12))
			e := in.waitExperiment(t, tc.name, "Succeeded", 4*time.Minute)
			if e.Status.Trials != 12 || e.Status.TrialsEarlyStopped == 0 {
				t.Errorf("%d trials, %d early stopped: want 12, some stopped", e.Status.Trials, e.Status.TrialsEarlyStopped)
			}
			stopped := strings.Fields(in.jsonpath("get", "trials", "-l", "ml.skiff.dev/experiment="+tc.name, "-o",
				`jsonpath={range .items[?(@.status.phase=="EarlyStopped")]}{.metadata.name}{" "}{end}`))
			if len(stopped) == 0 {
				t.Fatal("no trial is EarlyStopped")
			}
			// A trial judged just as it printed its last step may be stopped
			// there; the earliest stop shows that trials end early.
			earliest, earliestStep := "", 11
			for _, name := range stopped {
				var n, last int
				fmt.Sscanf(strings.TrimPrefix(name, tc.name+"-"), "%d", &n)
				fmt.Sscan(in.jsonpath("get", "trial", name, "-o", `jsonpath={.status.history[-1:].step}`), &last)
				if last < earliestStep {
					earliest, earliestStep = name, last
				}
				// Hyperband stops no trial before its bracket's first rung.
				if first := 2 << (n % 3); tc.name == "hyperband" && last < first {
					t.Errorf("trial %s (bracket %d) was stopped at step %d, before its first rung %d", name, n%3, last, first)
				}
			}
			msg := in.jsonpath("get", "trial", earliest, "-o", `jsonpath={.status.conditions[?(@.type=="EarlyStopped")].message}`)
			t.Logf("%d early stopped, the earliest %s at step %d: %s", len(stopped), earliest, earliestStep, msg)
			if earliestStep >= 10 {
				t.Errorf("every stopped trial ran all 10 steps first: %v", stopped)
			}
		})
	}
}

// TestExperimentSurvivesKill9: skiff killed mid-search, started again,
// finishes the Experiment with exactly maxTrialCount trials, each number
// once.
func TestExperimentSurvivesKill9(t *testing.T) {
	in := newInstance(t)
	in.up("--write-kubeconfig=false", "--gateway-port=0")
	in.apply(t, curveExperiment("survivor", "tpe", `, {name: n_startup_trials, value: "3"}`, "", 9))
	eventually(t, 2*time.Minute, "three trials succeeded", func() error {
		if e := in.experiment(t, "survivor"); e.Status.TrialsSucceeded < 3 {
			return fmt.Errorf("%d succeeded", e.Status.TrialsSucceeded)
		}
		return nil
	})
	in.forceKill()
	in.up("--write-kubeconfig=false", "--gateway-port=0")
	e := in.waitExperiment(t, "survivor", "Succeeded", 4*time.Minute)
	names := strings.Fields(in.jsonpath("get", "trials", "-l", "ml.skiff.dev/experiment=survivor", "-o", "jsonpath={.items[*].metadata.name}"))
	sort.Strings(names)
	want := []string{"survivor-0", "survivor-1", "survivor-2", "survivor-3", "survivor-4", "survivor-5", "survivor-6", "survivor-7", "survivor-8"}
	if strings.Join(names, " ") != strings.Join(want, " ") || e.Status.Trials != 9 || e.Status.TrialsSucceeded != 9 {
		t.Errorf("trials %v (status: %d, %d succeeded), want exactly %v", names, e.Status.Trials, e.Status.TrialsSucceeded, want)
	}
}

// gridExperiment is a Katib-style grid Experiment over tune.py.
const gridExperiment = `apiVersion: ml.skiff.dev/v1alpha1
kind: Experiment
metadata: {name: grid}
spec:
  objective: {type: maximize, objectiveMetricName: cv_r2}
  algorithm: {algorithmName: grid}
  parallelTrialCount: 2
  maxTrialCount: 10
  maxFailedTrialCount: 5
  parameters:
  - name: alpha
    parameterType: discrete
    feasibleSpace: {list: ["0.01", "0.1", "1"]}
  - name: l1_ratio
    parameterType: int
    feasibleSpace: {min: "0", max: "1"}
  trialTemplate:
    primaryContainerName: training
    trialParameters:
    - {name: alpha, reference: alpha}
    - {name: l1, reference: l1_ratio}
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: training
              image: python:3.6
              command: ["python3", "/app/tune.py", "--alpha=${trialParameters.alpha}", "--l1-ratio=${trialParameters.l1}"]
              volumeMounts: [{name: code, mountPath: /app}]
            volumes: [{name: code, configMap: {name: elastic-net-code}}]
`
