package cluster

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// options returns valid options with changes applied.
func options(change func(*Options)) Options {
	o := Defaults()
	o.DataDir = "/tmp/skiff-test"
	if change != nil {
		change(&o)
	}
	return o
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string // empty: valid
	}{
		{"defaults", nil, ""},
		{"bad bind address", func(o *Options) { o.BindAddress = "localhost:1" }, `--bind-address "localhost:1" is not an IP address`},
		{"loopback advertise", func(o *Options) { o.AdvertiseAddress = "127.0.0.1" }, "--advertise-address"},
		{"port zero", func(o *Options) { o.APIPort = 0 }, "--api-port 0 is out of range"},
		{"port too big", func(o *Options) { o.EtcdPort = 70000 }, "--etcd-port 70000 is out of range"},
		{"api on etcd peer", func(o *Options) { o.APIPort = 2380 }, "collides with --etcd-port"},
		{"bad cidr", func(o *Options) { o.ServiceCIDR = "10.43.0.0" }, "--service-cidr"},
		{"huge cidr", func(o *Options) { o.ServiceCIDR = "10.0.0.0/8" }, "between /12 and /28"},
		{"bad pod cidr", func(o *Options) { o.PodCIDR = "fd00::/64" }, "--pod-cidr"},
		{"overlapping cidrs", func(o *Options) { o.PodCIDR = "10.43.128.0/17" }, "overlaps --service-cidr"},
		{"bad cluster domain", func(o *Options) { o.ClusterDomain = "Cluster_Local" }, "--cluster-domain"},
		{"missing resolv.conf", func(o *Options) { o.ResolvConf = "/nonexistent/resolv.conf" }, "--resolv-conf /nonexistent/resolv.conf: no such file or directory"},
		{"relative volumes dir", func(o *Options) { o.VolumesDir = "volumes" }, "--volumes-dir"},
		{"empty data dir", func(o *Options) { o.DataDir = "" }, "--data-dir is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := options(tt.change).Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v, want ErrInvalid mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckPortsNamesTheTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	free := freePort(t)
	tests := []struct {
		name     string
		o        Options
		wantFlag string
	}{
		{"api port", options(func(o *Options) { o.APIPort = taken; o.EtcdPort = free }), "--api-port"},
		{"etcd port", options(func(o *Options) { o.APIPort = free; o.EtcdPort = taken }), "--etcd-port"},
		{"etcd peer port", options(func(o *Options) { o.APIPort = free; o.EtcdPort = taken - 1 }), "peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPorts(tt.o)
			if !errors.Is(err, ErrPortInUse) {
				t.Fatalf("CheckPorts = %v, want ErrPortInUse", err)
			}
			for _, want := range []string{"port " + strconv.Itoa(taken), tt.wantFlag} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestFirstServiceIP(t *testing.T) {
	ip, err := firstServiceIP("10.43.0.0/16")
	if err != nil || ip.String() != "10.43.0.1" {
		t.Errorf("firstServiceIP = %v, %v; want 10.43.0.1", ip, err)
	}
}

func TestDefaultAdvertiseAddressIsNotLoopback(t *testing.T) {
	ip, err := defaultAdvertiseAddress()
	if err != nil {
		t.Skipf("no non-loopback address here: %v", err)
	}
	if ip.IsLoopback() || ip.To4() == nil {
		t.Errorf("defaultAdvertiseAddress = %v, want a non-loopback IPv4", ip)
	}
}
