package spec

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

// barWidth is the progress bar's width in cells.
const barWidth = 30

// Live redraws a search's progress in place on a terminal: a bar of the
// finished trials with the counts, and the best trials so far. Each Draw
// moves the cursor back over the last frame and clears it, so the screen
// holds one frame, never a scroll of them.
type Live struct {
	w     io.Writer
	width int // the terminal's columns, 0 when not known
	lines int // lines of the frame on the screen
}

// NewLive draws on w, a terminal width columns wide (0: not known). Lines
// are cut to the width: a line the terminal wrapped would take two rows,
// and the next frame would move up over too few.
func NewLive(w io.Writer, width int) *Live { return &Live{w: w, width: width} }

// Draw replaces the frame on the screen with exp's progress and best.
func (l *Live) Draw(exp *mlv1.Experiment, best []mlv1.Trial) error {
	var frame bytes.Buffer
	frame.WriteString(Bar(exp) + "\n")
	if len(best) > 0 {
		if err := Table(&frame, exp, best); err != nil {
			return err
		}
	}
	text := l.fit(frame.String())
	out := l.erase() + text
	l.lines = strings.Count(text, "\n")
	_, err := io.WriteString(l.w, out)
	return err
}

// Clear removes the frame, for what is printed next to stand alone.
func (l *Live) Clear() error {
	out := l.erase()
	l.lines = 0
	_, err := io.WriteString(l.w, out)
	return err
}

// fit cuts each line of text to one column less than the width (the
// last column would wrap on some terminals).
func (l *Live) fit(text string) string {
	if l.width <= 1 {
		return text
	}
	rows := strings.Split(text, "\n")
	for i, row := range rows {
		if r := []rune(row); len(r) >= l.width {
			rows[i] = string(r[:l.width-1])
		}
	}
	return strings.Join(rows, "\n")
}

// erase is the escape sequence that moves up over the frame (ANSI cursor
// up, to column 1) and clears from there to the end of the screen.
func (l *Live) erase() string {
	if l.lines == 0 {
		return ""
	}
	return fmt.Sprintf("\x1b[%dF\x1b[J", l.lines)
}

// Bar is the Experiment's progress as a bar of finished trials out of
// maxTrialCount, then the counts and the best value:
//
//	[#########.....................] 9/30  3 running  1 failed  0 stopped  best accuracy 0.93 (train-4)
func Bar(exp *mlv1.Experiment) string {
	s := exp.Status
	done := s.TrialsSucceeded + s.TrialsFailed + s.TrialsEarlyStopped
	total := done + s.TrialsRunning + s.TrialsPending
	if exp.Spec.MaxTrialCount != nil {
		total = max(total, *exp.Spec.MaxTrialCount)
	}
	filled := 0
	if total > 0 {
		filled = int(done) * barWidth / int(total)
	}
	line := fmt.Sprintf("[%s%s] %d/%d  %d running  %d failed  %d stopped", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled),
		done, total, s.TrialsRunning+s.TrialsPending, s.TrialsFailed, s.TrialsEarlyStopped)
	if b := s.CurrentOptimalTrial; b != nil && b.Observation != nil && len(b.Observation.Metrics) > 0 {
		line += fmt.Sprintf("  best %s %s (%s)", b.Observation.Metrics[0].Name, b.Observation.Metrics[0].Latest, b.BestTrialName)
	}
	return line
}
