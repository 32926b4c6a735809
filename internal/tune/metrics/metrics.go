// Package metrics reads a trial's metrics from the lines it prints:
// Katib's name=value lines (or the Experiment's own metricsFormat
// expressions) and JSON lines ({"accuracy": 0.93, "step": 5}). It keeps
// each metric's values in order, with the step they were reported at, so
// that intermediate values feed early stopping and the final value feeds
// the search. No Kubernetes imports: the controller feeds it log lines.
package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// DefaultFormat is Katib's: name=value, anywhere in a line.
const DefaultFormat = `([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)`

// stepNames are the keys whose value is the step of the other metrics on
// the same line.
var stepNames = []string{"step", "epoch", "iteration", "trial_step"}

// Point is one value of a metric.
type Point struct {
	Step  int64
	Value float64
}

// Reader collects metrics from lines. Only the named metrics are kept,
// with at most keep points each (the first and the latest beyond that).
type Reader struct {
	names   map[string]bool
	formats []*regexp.Regexp
	keep    int

	points map[string][]Point
	counts map[string]int64 // values seen per metric, for steps
	lines  int
	first  []string // the first and last lines seen, for a
	last   []string // missing-metric message
}

// NewReader reads the metrics named; formats are metricsFormat
// expressions with two groups (name, value), DefaultFormat when none.
func NewReader(names []string, formats []string, keep int) (*Reader, error) {
	if len(formats) == 0 {
		formats = []string{DefaultFormat}
	}
	r := &Reader{names: map[string]bool{}, keep: max(keep, 2), points: map[string][]Point{}, counts: map[string]int64{}}
	for _, n := range names {
		r.names[n] = true
	}
	for _, f := range formats {
		re, err := regexp.Compile(f)
		if err != nil {
			return nil, fmt.Errorf("metricsFormat %q: %w", f, err)
		}
		if re.NumSubexp() < 2 {
			return nil, fmt.Errorf("metricsFormat %q needs two groups, the metric's name and its value", f)
		}
		r.formats = append(r.formats, re)
	}
	return r, nil
}

// Line reads one line of output.
func (r *Reader) Line(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	r.lines++
	if len(r.first) < 2 {
		r.first = append(r.first, truncate(line, 120))
	} else if r.last = append(r.last, truncate(line, 120)); len(r.last) > 3 {
		r.last = r.last[1:]
	}
	found := r.jsonLine(line)
	if found == nil {
		found = r.textLine(line)
	}
	step, hasStep := int64(0), false
	for _, s := range stepNames {
		if v, ok := found[s]; ok {
			step, hasStep = int64(v), true
			break
		}
	}
	for name, v := range found {
		if !r.names[name] || math.IsNaN(v) {
			continue
		}
		r.counts[name]++
		at := r.counts[name]
		if hasStep {
			at = step
		}
		r.add(name, Point{Step: at, Value: v})
	}
}

func (r *Reader) add(name string, p Point) {
	pts := append(r.points[name], p)
	if len(pts) > r.keep { // keep the first and the latest
		pts = append(pts[:1], pts[len(pts)-r.keep+1:]...)
	}
	r.points[name] = pts
}

// jsonLine reads a JSON object's numeric members, nil when the line is
// not one.
func (r *Reader) jsonLine(line string) map[string]float64 {
	if !strings.HasPrefix(line, "{") {
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return nil
	}
	out := map[string]float64{}
	for k, v := range obj {
		switch v := v.(type) {
		case float64:
			out[k] = v
		case string:
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				out[k] = x
			}
		}
	}
	return out
}

func (r *Reader) textLine(line string) map[string]float64 {
	out := map[string]float64{}
	for _, re := range r.formats {
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			if x, err := strconv.ParseFloat(m[2], 64); err == nil {
				out[strings.TrimSpace(m[1])] = x
			}
		}
	}
	return out
}

// Clone is a copy of what the reader has read, to read while it goes on.
func (r *Reader) Clone() *Reader {
	c := *r
	c.points = map[string][]Point{}
	for k, v := range r.points {
		c.points[k] = append([]Point(nil), v...)
	}
	c.counts = map[string]int64{}
	for k, v := range r.counts {
		c.counts[k] = v
	}
	c.first, c.last = append([]string(nil), r.first...), append([]string(nil), r.last...)
	return &c
}

// Points are a metric's values so far, in order.
func (r *Reader) Points(name string) []Point { return r.points[name] }

// Strategy picks a metric's reported value.
type Strategy string

const (
	Min    Strategy = "min"
	Max    Strategy = "max"
	Latest Strategy = "latest"
)

// Summary is a metric's min, max and latest value.
type Summary struct {
	Name             string
	Min, Max, Latest float64
	Count            int
}

// Summary summarizes a metric; ok is false when it was never printed.
func (r *Reader) Summary(name string) (s Summary, ok bool) {
	pts := r.points[name]
	if len(pts) == 0 {
		return Summary{Name: name}, false
	}
	s = Summary{Name: name, Min: math.Inf(1), Max: math.Inf(-1), Latest: pts[len(pts)-1].Value, Count: int(r.counts[name])}
	for _, p := range pts {
		s.Min, s.Max = math.Min(s.Min, p.Value), math.Max(s.Max, p.Value)
	}
	return s, true
}

// Value is the summary's value by strategy.
func (s Summary) Value(st Strategy) float64 {
	switch st {
	case Min:
		return s.Min
	case Max:
		return s.Max
	}
	return s.Latest
}

// LinesRead is how many lines the reader was given.
func (r *Reader) LinesRead() int { return r.lines }

// Missing says, for a trial that never printed name, what it did print:
// the message a user needs to fix the script or the objective.
func (r *Reader) Missing(name string) string {
	if r.lines == 0 {
		return fmt.Sprintf("metric %q was not reported: the container printed nothing (print a line such as %s=0.93, or {\"%s\": 0.93})", name, name, name)
	}
	var other []string
	for n := range r.counts {
		other = append(other, n)
	}
	sort.Strings(other)
	reported := ""
	if len(other) > 0 {
		reported = "; it did report " + strings.Join(other, ", ")
	}
	seen := strings.Join(quoteAll(r.first), ", ")
	if len(r.last) > 0 {
		gap := ", "
		if r.lines > len(r.first)+len(r.last) {
			gap = ", ..., "
		}
		seen += gap + strings.Join(quoteAll(r.last), ", ")
	}
	return fmt.Sprintf("metric %q was not reported in %d lines of output (print a line such as %s=0.93, or {\"%s\": 0.93})%s; it printed %s",
		name, r.lines, name, name, reported, seen)
}

func quoteAll(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strconv.Quote(l)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
