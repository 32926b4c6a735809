package experiment

import (
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// DefaultMetricsFile is where a File collector reads when the Experiment
// names no file: Katib's default.
const DefaultMetricsFile = "/var/log/katib/metrics.log"

// metricsMark starts each line of the metrics file that the File
// collector's wrapper copies into the container's log, so that the log
// (read through the API, as for StdOut) tells the file's lines from the
// program's own output.
const metricsMark = "skiff-metrics-file: "

// fileWrapper runs the container's command as a child and passes SIGTERM
// and SIGINT on to it (the shell may be PID 1, which ignores them), the
// trap set first so that none is lost; an interrupted wait is waited
// again for the child's own exit code (127 means dash has reaped it
// already; bash keeps reaped children's codes). Once the child has ended
// it copies the metrics file to stdout with the mark, after a newline
// (the program's last line may lack one), with sed where there is one,
// and exits with the child's code. $1 is the file; the command follows.
const fileWrapper = `f=$1; shift
mkdir -p "${f%/*}" 2>/dev/null
trap 'stopped=1; [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null' TERM INT
"$@" &
pid=$!
[ -n "$stopped" ] && kill -TERM "$pid" 2>/dev/null
wait "$pid"; rc=$?
while [ -n "$stopped" ]; do stopped=; wait "$pid"; r=$?; [ "$r" -ne 127 ] && rc=$r; done
if [ -f "$f" ]; then
  printf '\n'
  if command -v sed >/dev/null 2>&1; then sed 's/^/` + metricsMark + `/' "$f"
  else while IFS= read -r l || [ -n "$l" ]; do printf '` + metricsMark + `%s\n' "$l"; done < "$f"; fi
fi
exit $rc`

// metricsFile is the file a File collector reads, "" for StdOut.
func metricsFile(mc *mlv1.MetricsCollectorSpec) string {
	if mc == nil || mc.Collector == nil || mc.Collector.Kind != mlv1.CollectorFile {
		return ""
	}
	if mc.Source != nil && mc.Source.FileSystemPath != nil && mc.Source.FileSystemPath.Path != "" {
		return mc.Source.FileSystemPath.Path
	}
	return DefaultMetricsFile
}

// wrapForFile makes the primary container run its command through
// fileWrapper, as Katib's webhook wraps it: the command must be given,
// since the image's own entrypoint is not known from the API.
func wrapForFile(job *batchv1.Job, primary, path string) error {
	spec := &job.Spec.Template.Spec
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.Name != primary {
			continue
		}
		if len(c.Command) == 0 {
			return fmt.Errorf("the File metrics collector runs container %q's command and then reads %s: give the container a command (the image's entrypoint is not known to skiff)", primary, path)
		}
		run := append(append([]string{"sh", "-c", fileWrapper, "skiff-metrics-file", path}, c.Command...), c.Args...)
		c.Command, c.Args = run, nil
		return nil
	}
	return primaryContainer(job, primary)
}

// collectedLines passes to each the lines of the trial's metrics: all of
// the log for StdOut; for File only the copied lines of the file, without
// the mark.
func collectedLines(trial *mlv1.Trial, each func(string)) func(string) {
	if metricsFile(trial.Spec.MetricsCollector) == "" {
		return each
	}
	return func(line string) {
		if rest, ok := strings.CutPrefix(line, metricsMark); ok {
			each(rest)
		}
	}
}
