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
	type advice struct {
		CPU, Memory                    string
		CPUAtFloor, MemoryAtFloor      bool
		CPUP50, CPUP90, MemP50, MemP90 string
	}
	lowFloors := Default
	lowFloors.MinCPUMillicores, lowFloors.MinMemoryBytes = 1, 16<<20
	idle := samples([2]int64{1, 10}, [2]int64{0, 10}, [2]int64{2, 11}, [2]int64{1, 10})
	tests := []struct {
		name   string
		method Method
		in     []Sample
		want   advice
	}{
		// Ten samples: the 90th percentile is the 9th value, plus 15%.
		{"busy", Default, samples([2]int64{100, 300}, [2]int64{200, 300}, [2]int64{300, 310}, [2]int64{400, 320}, [2]int64{500, 330},
			[2]int64{600, 340}, [2]int64{700, 350}, [2]int64{800, 360}, [2]int64{900, 380}, [2]int64{1000, 1000}),
			advice{CPU: "1035m", Memory: "437Mi", CPUP50: "500m", CPUP90: "900m", MemP50: "330Mi", MemP90: "380Mi"}},
		// Idle: the floors, and it says so.
		{"idle", Default, idle,
			advice{CPU: "25m", Memory: "250Mi", CPUAtFloor: true, MemoryAtFloor: true, CPUP50: "1m", CPUP90: "2m", MemP50: "10Mi", MemP90: "11Mi"}},
		// Floors lowered (--min-cpu, --min-memory): the usage decides.
		{"idle, low floors", lowFloors, idle,
			advice{CPU: "2m", Memory: "16Mi", MemoryAtFloor: true, CPUP50: "1m", CPUP90: "2m", MemP50: "10Mi", MemP90: "11Mi"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.method.For(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got := advice{CPU: r.CPU.String(), Memory: r.Memory.String(), CPUAtFloor: r.CPUAtFloor, MemoryAtFloor: r.MemoryAtFloor,
				CPUP50: r.Observed.CPUP50.String(), CPUP90: r.Observed.CPUP90.String(),
				MemP50: r.Observed.MemoryP50.String(), MemP90: r.Observed.MemoryP90.String()}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("advice (-want +got):\n%s", diff)
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
