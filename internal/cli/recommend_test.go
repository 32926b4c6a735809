package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiff-dev/skiff/internal/recommend"
)

// idleSamples is a small service: 20Mi of working set, a few millicores.
func idleSamples() []recommend.Sample {
	t0 := time.Unix(1700000000, 0)
	var out []recommend.Sample
	for i := range 8 {
		out = append(out, recommend.Sample{Time: t0.Add(time.Duration(i) * 15 * time.Second), CPUMillicores: 3, WorkingSetBytes: 20 << 20})
	}
	return out
}

func withLimits(cpu, memory string) corev1.Container {
	c := corev1.Container{Name: "api", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{}}}
	if cpu != "" {
		c.Resources.Limits[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	return c
}

func TestRecommendNotes(t *testing.T) {
	low := recommend.Default
	low.MinCPUMillicores, low.MinMemoryBytes = 1, 16<<20
	tests := []struct {
		name      string
		method    recommend.Method
		container corev1.Container
		want      []string
	}{
		{
			name: "the VPA floor, 250Mi, under a 256Mi limit: said to be the floor", method: recommend.Default, container: withLimits("", "256Mi"),
			want: []string{
				"cpu 25m is the floor, not the usage (p90 3m); lower it with --min-cpu",
				"memory 250Mi is the floor, not the usage (p90 20Mi); lower it with --min-memory",
			},
		},
		{
			name: "the floor above a 128Mi limit: said so", method: recommend.Default, container: withLimits("20m", "128Mi"),
			want: []string{
				"cpu 25m is the floor, not the usage (p90 3m); lower it with --min-cpu",
				"memory 250Mi is the floor, not the usage (p90 20Mi); lower it with --min-memory",
				"the cpu advice 25m is above the limit 20m: a request may not exceed its limit, so raise the limit with it (--limits=cpu=...)",
				"the memory advice 250Mi is above the limit 128Mi: a request may not exceed its limit, so raise the limit with it (--limits=memory=...)",
			},
		},
		{
			name: "floors lowered: the usage decides, nothing to say", method: low, container: withLimits("500m", "128Mi"),
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.method.For(idleSamples())
			if err != nil {
				t.Fatal(err)
			}
			got := notes(tt.container, r)
			if got == nil {
				got = []string{}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintAdviceShowsUsageAndHowToApply(t *testing.T) {
	r, err := recommend.Default.For(idleSamples())
	if err != nil {
		t.Fatal(err)
	}
	c := withLimits("", "128Mi")
	var buf bytes.Buffer
	advice := []containerAdvice{
		{Container: "api", CPURequest: "100m", MemRequest: "-", Recommended: &r, Notes: notes(c, r)},
		{Container: "sidecar", CPURequest: "-", MemRequest: "-", Reason: "too few samples: 1, need 4"},
	}
	if err := printAdvice(&buf, "deployment/web", advice); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		"CONTAINER  CPU REQUEST  CPU USED P50/P90  RECOMMENDED CPU  MEMORY REQUEST  MEMORY USED P50/P90  RECOMMENDED MEMORY  SAMPLES  WINDOW",
		"api        100m         3m/3m             25m              -               20Mi/20Mi            250Mi               8        1m45s",
		"sidecar    -            -                 -                -               -                    -                   -        too few samples: 1, need 4",
		"note: api: cpu 25m is the floor, not the usage (p90 3m); lower it with --min-cpu",
		"note: api: memory 250Mi is the floor, not the usage (p90 20Mi); lower it with --min-memory",
		"note: api: the memory advice 250Mi is above the limit 128Mi: a request may not exceed its limit, so raise the limit with it (--limits=memory=...)",
		"To apply:",
		"  kubectl set resources deployment/web -c api --requests=cpu=25m,memory=250Mi",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestRecommendFloorsRefuseBadQuantities(t *testing.T) {
	for _, opts := range []RecommendOptions{{MinCPU: "lots", MinMemory: "1Mi"}, {MinCPU: "1m", MinMemory: "64 MB"}} {
		if _, err := opts.method(); err == nil || !strings.Contains(err.Error(), "--min-") {
			t.Errorf("%+v: %v, want the flag named", opts, err)
		}
	}
}
