package recommend

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// samples builds one sample per (millicores, MiB) pair, 15 s apart.
func samples(pairs ...[2]int64) []Sample {
	t0 := time.Unix(1700000000, 0)
	out := make([]Sample, len(pairs))
	for i, p := range pairs {
		out[i] = Sample{Time: t0.Add(time.Duration(i) * 15 * time.Second), CPUMillicores: p[0], WorkingSetBytes: p[1] << 20}
	}
	return out
}

func TestFor(t *testing.T) {
	tests := []struct {
		name        string
		in          []Sample
		cpu, memory string
	}{
		// Ten samples: the 90th percentile is the 9th value, plus 15%.
		{"busy", samples([2]int64{100, 300}, [2]int64{200, 300}, [2]int64{300, 310}, [2]int64{400, 320}, [2]int64{500, 330},
			[2]int64{600, 340}, [2]int64{700, 350}, [2]int64{800, 360}, [2]int64{900, 380}, [2]int64{1000, 1000}), "1035m", "437Mi"},
		// Idle: the floors.
		{"idle", samples([2]int64{1, 10}, [2]int64{0, 10}, [2]int64{2, 11}, [2]int64{1, 10}), "25m", "250Mi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Default.For(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got := [2]string{r.CPU.String(), r.Memory.String()}
			if diff := cmp.Diff([2]string{tc.cpu, tc.memory}, got); diff != "" {
				t.Errorf("cpu, memory (-want +got):\n%s", diff)
			}
			if r.Samples != len(tc.in) || !r.From.Equal(tc.in[0].Time) || !r.To.Equal(tc.in[len(tc.in)-1].Time) {
				t.Errorf("window %d samples %s-%s", r.Samples, r.From, r.To)
			}
		})
	}
}

func TestTooFewSamples(t *testing.T) {
	if _, err := Default.For(samples([2]int64{100, 100})); !errors.Is(err, ErrTooFewSamples) {
		t.Errorf("one sample: %v", err)
	}
}
