package network

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIPAM(t *testing.T) {
	m, err := NewIPAM("10.42.0.0/29") // .1 gateway, .2-.6 pods, .7 broadcast
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Gateway().String(); got != "10.42.0.1" {
		t.Errorf("gateway %s", got)
	}
	var got []string
	for _, pod := range []string{"a", "b", "c", "d", "e"} {
		a, err := m.Allocate(pod)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if diff := cmp.Diff([]string{"10.42.0.2", "10.42.0.3", "10.42.0.4", "10.42.0.5", "10.42.0.6"}, got); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if a, _ := m.Allocate("c"); a != netip.MustParseAddr("10.42.0.4") {
		t.Errorf("a pod asking again got %s, want its own 10.42.0.4", a)
	}
	if _, err := m.Allocate("f"); !errors.Is(err, ErrExhausted) {
		t.Errorf("sixth pod in a /29: %v, want ErrExhausted", err)
	}
	m.Release("b")
	if a, err := m.Allocate("f"); err != nil || a != netip.MustParseAddr("10.42.0.3") {
		t.Errorf("after a release: %s, %v; want the freed 10.42.0.3", a, err)
	}
}

func TestIPAMRefusesBadCIDRs(t *testing.T) {
	for _, cidr := range []string{"10.42.0.0", "10.42.0.0/31", "fd00::/64", "nonsense"} {
		if _, err := NewIPAM(cidr); err == nil {
			t.Errorf("NewIPAM(%q) accepted it", cidr)
		}
	}
}
