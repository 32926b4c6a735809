package podruntime

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func (b *podBuilder) stdin(once, tty bool) *podBuilder {
	c := &b.pod.Spec.Containers[len(b.pod.Spec.Containers)-1]
	c.Stdin, c.StdinOnce, c.TTY = true, once, tty
	return b
}

// syncBuffer is an io.Writer that a test reads while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// attach runs a session that types input into the pod's main container,
// and returns what the session saw once the container ended.
func attach(t *testing.T, rt *Runtime, pod, input string, tty bool) string {
	t.Helper()
	waitFor(t, rt, pod, "running", phase(corev1.PodRunning))
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := rt.Attach(ctx, "default", pod, "main", ExecIO{Stdin: strings.NewReader(input), Stdout: &out, Stderr: &out, TTY: tty})
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the container did not end with its input; session saw %q", out.String())
	}
	return out.String()
}

func TestAttachFeedsStdinOnceAndFollowsOutput(t *testing.T) {
	rt := newRuntime(t)
	pod := newPod("cat").container("main", "sh", "-c", "while read line; do echo got=$line; done; echo stdin closed").stdin(true, false).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	got := attach(t, rt, "cat", "a\nb\n", false)
	if want := "got=a\ngot=b\nstdin closed\n"; got != want {
		t.Errorf("session saw %q, want %q", got, want)
	}
	waitFor(t, rt, "cat", "succeeded", phase(corev1.PodSucceeded))
	if logs := logsOf(t, rt, "cat", "main", LogOptions{Tail: -1}); !strings.Contains(logs, "got=b") {
		t.Errorf("logs lack the attached session's output: %q", logs)
	}
}

// inBothModes runs test against a runtime of plain processes ("process")
// and one of sandboxes ("sandbox").
func inBothModes(t *testing.T, test func(t *testing.T, rt *Runtime, mode string), opts ...option) {
	for _, mode := range []string{"process", "sandbox"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "sandbox" {
				test(t, sandboxedRuntime(t, opts...), mode)
			} else {
				test(t, newRuntime(t, opts...), mode)
			}
		})
	}
}

func TestAttachToATerminal(t *testing.T) {
	inBothModes(t, func(t *testing.T, rt *Runtime, name string) {
		sandboxed := name == "sandbox"
		pod := newPod("tty-"+name).container("main", "sh", "-c", "read line; echo got=$line; tty").stdin(true, true).pod
		if err := rt.CreatePod(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
		got := attach(t, rt, "tty-"+name, "hello\n", true)
		if !strings.Contains(got, "got=hello\r\n") || !strings.Contains(got, "/dev/pts/") {
			t.Errorf("session on a terminal saw %q", got)
		}
		if sandboxed && !strings.Contains(got, "/dev/pts/0") {
			t.Errorf("the sandbox's terminal is not from its own devpts: %q", got)
		}
	})
}

// kubectl run -i attaches once the pod runs: what a short command printed
// before that is shown to the first session, not lost (later sessions of
// the container only follow, as kubectl attach does).
func TestFirstAttachOfStdinOnceSeesEarlierOutput(t *testing.T) {
	rt := newRuntime(t)
	pod := newPod("early").container("main", "sh", "-c", "echo before; sleep 0.5; echo after").stdin(true, false).pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rt, "early", "running", phase(corev1.PodRunning))
	time.Sleep(200 * time.Millisecond) // "before" is out
	got := attach(t, rt, "early", "", false)
	if got != "before\nafter\n" {
		t.Errorf("first session saw %q, want the output from the start", got)
	}
}

func TestAttachWithoutStdinOnlyFollows(t *testing.T) {
	rt := newRuntime(t)
	pod := newPod("ticker").container("main", "sh", "-c", "sleep 0.3; echo one; echo two >&2").pod
	if err := rt.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	got := attach(t, rt, "ticker", "ignored\n", false)
	// stdout and stderr are separate pipes: their order may vary.
	if got != "one\ntwo\n" && got != "two\none\n" {
		t.Errorf("session saw %q, want both streams", got)
	}
}
