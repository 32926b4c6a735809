// Package progress is what skiff tells the person at the terminal: short
// lines with a level (info or warning), kept apart from the component log
// (package klog, through logr). A nil *Reporter says nothing, so library
// code can take one without checking.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Level says how much a line matters to the person reading.
type Level int

const (
	// Info is a step that went as expected.
	Info Level = iota
	// Warning is something that works, but less well than it could, and
	// what the user may do about it.
	Warning
)

func (l Level) String() string {
	if l == Warning {
		return "warning"
	}
	return "info"
}

// Sink receives every line a Reporter is given.
type Sink func(level Level, msg string)

// Reporter formats lines and hands them to its sinks.
type Reporter struct{ sinks []Sink }

// New returns a Reporter that gives each line to every sink, in order.
func New(sinks ...Sink) *Reporter { return &Reporter{sinks: sinks} }

// Info reports a step.
func (r *Reporter) Info(format string, args ...any) { r.report(Info, format, args...) }

// Warn reports something the user may want to act on.
func (r *Reporter) Warn(format string, args ...any) { r.report(Warning, format, args...) }

func (r *Reporter) report(level Level, format string, args ...any) {
	if r == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	for _, s := range r.sinks {
		s(level, msg)
	}
}

// Terminal writes timestamped lines to w, warnings marked as such. quiet
// drops info lines; warnings are always written.
func Terminal(w io.Writer, quiet bool) Sink {
	var mu sync.Mutex
	return func(level Level, msg string) {
		if quiet && level == Info {
			return
		}
		var b strings.Builder
		b.WriteString(time.Now().Format("15:04:05.000"))
		b.WriteByte(' ')
		if level == Warning {
			b.WriteString("warning: ")
		}
		b.WriteString(msg)
		b.WriteByte('\n')
		mu.Lock()
		defer mu.Unlock()
		// A terminal that went away must not stop skiff (or its
		// shutdown): the line is lost, nothing else.
		_, _ = io.WriteString(w, b.String())
	}
}

// Recorder keeps every line, for tests.
type Recorder struct {
	mu    sync.Mutex
	lines []Line
}

// Line is one recorded report.
type Line struct {
	Level Level
	Msg   string
}

// Sink is the Recorder's sink.
func (r *Recorder) Sink(level Level, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, Line{level, msg})
}

// Lines returns a copy of what was reported so far.
func (r *Recorder) Lines() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Line(nil), r.lines...)
}
