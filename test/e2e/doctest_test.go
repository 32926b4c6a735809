package e2e

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The documentation's shell blocks are console transcripts:
//
//	```console
//	$ kubectl create deployment web --image=nginx
//	deployment.apps/web created
//	```
//
// A line starting with "$ " is a command (a trailing backslash continues
// it, a heredoc runs to its end word); the lines up to the next command
// are its expected output, matched loosely (see matchLine). A block is
// left out only when the line above it says why:
// <!-- doc-test: skip (reason) -->.

// docCommand is one command of a document and the output it shows.
type docCommand struct {
	Line   int // of the "$ " line in the file
	Script string
	Want   []string
}

// skipMarker precedes a block the doc test does not run.
var skipMarker = regexp.MustCompile(`^<!-- doc-test: skip \((.+)\) -->$`)

// heredocWord finds a heredoc's end word in a command line.
var heredocWord = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z0-9_]+)['"]?`)

// parseDoc reads a markdown document's console blocks into commands; a
// shell block that is not a console transcript, or a skip without a
// reason, is an error, so that nothing shown escapes the test.
func parseDoc(text string) ([]docCommand, error) {
	var (
		cmds    []docCommand
		inBlock bool
		run     bool
		skip    bool
		heredoc string
		cur     *docCommand
	)
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if !inBlock {
			if skipMarker.MatchString(trimmed) {
				skip = true
				continue
			}
			if fence, ok := strings.CutPrefix(trimmed, "```"); ok {
				inBlock = true
				switch lang := strings.Fields(fence + " x")[0]; lang {
				case "console":
					run = !skip
				case "sh", "bash", "shell", "x":
					if !skip && lang != "x" {
						return nil, fmt.Errorf("line %d: a %s block: write it as a console block (\"$ \" before each command) so the doc test runs it, or say why not with <!-- doc-test: skip (reason) -->", n, lang)
					}
					run = false
				default:
					run = false
				}
				skip = false
				continue
			}
			if trimmed != "" {
				skip = false
			}
			continue
		}
		switch {
		case heredoc != "":
			cur.Script += "\n" + line
			if trimmed == heredoc {
				heredoc = ""
			}
			continue
		case cur != nil && strings.HasSuffix(cur.Script, "\\"):
			cur.Script += "\n" + line
		case strings.HasPrefix(line, "```"):
			inBlock, run, cur = false, false, nil
			continue
		case !run:
			continue
		case strings.HasPrefix(line, "$ "):
			cmds = append(cmds, docCommand{Line: n, Script: strings.TrimPrefix(line, "$ ")})
			cur = &cmds[len(cmds)-1]
		case cur == nil:
			if trimmed != "" {
				return nil, fmt.Errorf("line %d: output before the block's first command: %q", n, line)
			}
			continue
		default:
			if trimmed != "" {
				cur.Want = append(cur.Want, line)
			}
			continue
		}
		// A command line: does a heredoc start on it?
		if m := heredocWord.FindStringSubmatch(line); m != nil {
			heredoc = m[1]
		}
	}
	if inBlock {
		return nil, fmt.Errorf("a block is not closed")
	}
	return cmds, nil
}

// exitComment is how a document says a command's exit status when it is
// not an error kubectl prints (kubectl auth can-i answers "no" with 1).
var exitComment = regexp.MustCompile(`#\s*exit status (\d+)\s*$`)

// statusOK says whether a command's exit status is what its document
// shows: the status its comment names, non-zero when the output shown is
// an error, else zero.
func statusOK(c docCommand, rc int) bool {
	if m := exitComment.FindStringSubmatch(c.Script); m != nil {
		want, _ := strconv.Atoi(m[1])
		return rc == want
	}
	for _, w := range c.Want {
		if w := strings.TrimSpace(w); strings.HasPrefix(w, "Error") || strings.HasPrefix(w, "error:") {
			return rc != 0
		}
	}
	return rc == 0
}

// Generated and timing parts of output: what differs from one run to
// the next but not from what the docs mean.
var (
	placeholder = regexp.MustCompile(`<[^<>]+>`)
	ipv4        = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?\b`)
	duration    = regexp.MustCompile(`\b\d+(\.\d+)?(ms|s)\b|\b\d+m\d+s\b`)
	podSuffix   = regexp.MustCompile(`-[bcdfghjklmnpqrstvwxz2456789]{5,10}\b`)
)

// linePattern turns an expected line into a regexp for one output line:
// whitespace runs match any whitespace, "..." anything, a <placeholder>
// anything, IPv4 addresses (with a port) any address, durations any
// duration, and the generated suffixes of pod and ReplicaSet names any
// suffix.
func linePattern(want string) *regexp.Regexp {
	var b strings.Builder
	for i, part := range strings.Split(strings.TrimSpace(want), "...") {
		if i > 0 {
			b.WriteString(".*")
		}
		b.WriteString(partPattern(part))
	}
	return regexp.MustCompile("^" + b.String() + "$")
}

func partPattern(part string) string {
	type span struct {
		start, end int
		re         string
	}
	var spans []span
	for _, w := range []struct {
		re  *regexp.Regexp
		any string
	}{{placeholder, `.*?`}, {ipv4, `\d+\.\d+\.\d+\.\d+(:\d+)?`}, {duration, `\S+`}, {podSuffix, `-[a-z0-9]{5,10}`}} {
		for _, m := range w.re.FindAllStringIndex(part, -1) {
			overlaps := false
			for _, s := range spans {
				overlaps = overlaps || m[0] < s.end && s.start < m[1]
			}
			if !overlaps {
				spans = append(spans, span{m[0], m[1], w.any})
			}
		}
	}
	var b strings.Builder
	pos := 0
	for pos < len(part) {
		next := -1
		for i, s := range spans {
			if s.start >= pos && (next < 0 || s.start < spans[next].start) {
				next = i
			}
		}
		end := len(part)
		if next >= 0 {
			end = spans[next].start
		}
		for j, field := range regexp.MustCompile(`\s+`).Split(part[pos:end], -1) {
			if j > 0 {
				b.WriteString(`\s+`)
			}
			b.WriteString(regexp.QuoteMeta(field))
		}
		if next < 0 {
			break
		}
		b.WriteString(spans[next].re)
		pos = spans[next].end
	}
	return b.String()
}

// matchOutput checks that the expected lines appear in the output in
// their order (other lines may come between: docs show what matters);
// it returns the first expected line that does not.
func matchOutput(want []string, got string) (missing string, ok bool) {
	lines := strings.Split(got, "\n")
	i := 0
	for _, w := range want {
		if strings.TrimSpace(w) == "..." {
			continue
		}
		re := linePattern(w)
		for i < len(lines) && !re.MatchString(strings.TrimSpace(lines[i])) {
			i++
		}
		if i == len(lines) {
			return w, false
		}
		i++
	}
	return "", true
}
