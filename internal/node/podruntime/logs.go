package podruntime

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// logWriter appends a stream's output to a container instance's log file in
// the CRI format ("<RFC3339Nano> <stream> <F|P> <text>"), one line per entry,
// which is what `kubectl logs --timestamps` shows.
type logWriter struct {
	mu     *sync.Mutex // shared by stdout and stderr of one instance
	f      *os.File
	stream string
	buf    []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if err := w.entry("F", w.buf[:i]); err != nil {
			return 0, err
		}
		w.buf = w.buf[i+1:]
	}
	// Long lines without a newline are flushed as partial entries.
	if len(w.buf) >= 16<<10 {
		if err := w.entry("P", w.buf); err != nil {
			return 0, err
		}
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *logWriter) entry(tag string, line []byte) error {
	_, err := fmt.Fprintf(w.f, "%s %s %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), w.stream, tag, line)
	return err
}

// Close flushes a last line that had no newline.
func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		err := w.entry("F", w.buf)
		w.buf = nil
		return err
	}
	return nil
}

// LogOptions select what part of a log to read, as `kubectl logs` does.
type LogOptions struct {
	Tail       int // < 0: all
	LimitBytes int // 0: no limit
	Timestamps bool
	Follow     bool
	Since      time.Time
}

type logEntry struct {
	ts   time.Time
	raw  string // the timestamp as written
	text string
	full bool
}

func parseEntry(line string) (logEntry, bool) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) < 3 {
		return logEntry{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		return logEntry{}, false
	}
	e := logEntry{ts: ts, raw: parts[0], full: parts[2] == "F"}
	if len(parts) == 4 {
		e.text = parts[3]
	}
	return e, true
}

func (e logEntry) format(timestamps bool) string {
	s := e.text
	if e.full {
		s += "\n"
	}
	if timestamps {
		return e.raw + " " + s
	}
	return s
}

// readLog streams the log at path to w. With Follow it keeps reading until
// done is closed and the file is drained, or ctx ends.
func readLog(ctx context.Context, path string, opts LogOptions, w io.Writer, done <-chan struct{}) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	limit := opts.LimitBytes
	emit := func(e logEntry) (bool, error) {
		if !opts.Since.IsZero() && e.ts.Before(opts.Since) {
			return true, nil
		}
		s := e.format(opts.Timestamps)
		if limit > 0 {
			if len(s) >= limit {
				s = s[:limit]
				_, err := io.WriteString(w, s)
				return false, err
			}
			limit -= len(s)
		}
		_, err := io.WriteString(w, s)
		return true, err
	}
	// The existing content, with --tail applied.
	var existing []logEntry
	partial := ""
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			partial = line
			break
		}
		if err != nil {
			return err
		}
		if e, ok := parseEntry(strings.TrimSuffix(line, "\n")); ok {
			existing = append(existing, e)
			if opts.Tail >= 0 && len(existing) > opts.Tail*2+64 {
				existing = existing[len(existing)-opts.Tail:]
			}
		}
	}
	if opts.Tail >= 0 && len(existing) > opts.Tail {
		existing = existing[len(existing)-opts.Tail:]
	}
	for _, e := range existing {
		if more, err := emit(e); err != nil || !more {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	flusher, _ := w.(interface{ Flush() })
	finished := false
	for {
		line, err := r.ReadString('\n')
		partial += line
		if err == nil {
			if e, ok := parseEntry(strings.TrimSuffix(partial, "\n")); ok {
				if more, err := emit(e); err != nil || !more {
					return err
				}
			}
			partial = ""
			continue
		}
		if err != io.EOF {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		if finished {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			finished = true // drain what the last writes left, then stop
		case <-time.After(100 * time.Millisecond):
		}
	}
}
