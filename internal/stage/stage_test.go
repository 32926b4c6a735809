package stage

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// journal records what the test stages did, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.events...)
}

// behaviour is how a test stage acts.
type behaviour int

const (
	serves        behaviour = iota // ready, then serves until stopped
	failsAtStart                   // returns an error before it is ready
	failsLater                     // ready, then returns an error on its own
	endsLater                      // ready, then returns nil on its own
	neverReady                     // serves until stopped, never ready
	hangsOnStop                    // ready, ignores being stopped
	errsOnStop                     // ready, returns an error once stopped
	cancelsOnStop                  // ready, returns ctx.Err() once stopped
)

var errBoom = errors.New("boom")

// stageOf builds a test stage; later, when a stage fails or ends on its
// own, is released by the test.
func stageOf(j *journal, name string, b behaviour, later <-chan struct{}) Stage {
	return Stage{Name: name, StopTimeout: 200 * time.Millisecond, Run: func(ctx context.Context, ready func()) error {
		j.add("start " + name)
		if b == failsAtStart {
			return errBoom
		}
		if b != neverReady {
			ready()
			ready() // a second call is harmless
		}
		switch b {
		case failsLater:
			<-later
			return errBoom
		case endsLater:
			<-later
			return nil
		case hangsOnStop:
			<-ctx.Done()
			j.add("ignore stop " + name)
			time.Sleep(time.Second)
			return nil
		}
		<-ctx.Done()
		j.add("stop " + name)
		switch b {
		case errsOnStop:
			return errBoom
		case cancelsOnStop:
			return ctx.Err()
		}
		return nil
	}}
}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		stages    []behaviour
		cancel    bool // the caller's context ends once all are ready
		wantReady bool
		wantErr   string // substring; "" means no error
		want      []string
	}{
		{
			name:      "starts in order, stops in reverse when the caller is done",
			stages:    []behaviour{serves, serves, cancelsOnStop},
			cancel:    true,
			wantReady: true,
			want:      []string{"start a", "start b", "start c", "ready", "stop c", "stop b", "stop a"},
		},
		{
			name:    "a middle stage that fails to start: later ones never start, earlier ones stop in reverse",
			stages:  []behaviour{serves, serves, failsAtStart, serves},
			wantErr: "c: boom",
			want:    []string{"start a", "start b", "start c", "stop b", "stop a"},
		},
		{
			name:      "a stage that fails while serving stops all",
			stages:    []behaviour{serves, failsLater, serves},
			wantReady: true,
			wantErr:   "b: boom",
			want:      []string{"start a", "start b", "start c", "ready", "stop c", "stop a"},
		},
		{
			name:      "a stage that ends on its own, without an error, is a failure",
			stages:    []behaviour{serves, endsLater},
			wantReady: true,
			wantErr:   "b stopped on its own",
			want:      []string{"start a", "start b", "ready", "stop a"},
		},
		{
			name:   "cancelled while a stage is not ready yet",
			stages: []behaviour{serves, neverReady, serves},
			cancel: true,
			want:   []string{"start a", "start b", "stop b", "stop a"},
		},
		{
			name:      "an error once stopped is reported, and the rest still stop",
			stages:    []behaviour{serves, errsOnStop},
			cancel:    true,
			wantReady: true,
			wantErr:   "b: stopping: boom",
			want:      []string{"start a", "start b", "ready", "stop b", "stop a"},
		},
		{
			name:      "a stage that does not stop in time is reported, and the rest still stop",
			stages:    []behaviour{serves, hangsOnStop},
			cancel:    true,
			wantReady: true,
			wantErr:   "b did not stop within 200ms",
			want:      []string{"start a", "start b", "ready", "ignore stop b", "stop a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := &journal{}
			later := make(chan struct{})
			var stages []Stage
			for i, b := range tt.stages {
				stages = append(stages, stageOf(j, string(rune('a'+i)), b, later))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := false
			go func() {
				// Let every stage get as far as it can, then end it.
				time.Sleep(100 * time.Millisecond)
				if tt.cancel {
					cancel()
				} else {
					close(later)
				}
			}()
			err := Run(ctx, func() { ready = true; j.add("ready") }, stages...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Run: got error %v, want one with %q", err, tt.wantErr)
			}
			if ready != tt.wantReady {
				t.Errorf("ready called: %v, want %v", ready, tt.wantReady)
			}
			if diff := cmp.Diff(tt.want, j.get()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGroupNests(t *testing.T) {
	t.Parallel()
	j := &journal{}
	ctx, cancel := context.WithCancel(context.Background())
	never := make(chan struct{})
	inner := Group("cp", stageOf(j, "etcd", serves, never), stageOf(j, "apiserver", serves, never))
	after := Serve("node", func(ctx context.Context) error {
		j.add("start node")
		<-ctx.Done()
		j.add("stop node")
		return nil
	})
	err := Run(ctx, func() { j.add("ready"); cancel() }, inner, after)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"start etcd", "start apiserver", "start node", "ready", "stop node", "stop apiserver", "stop etcd"}
	if diff := cmp.Diff(want, j.get()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
