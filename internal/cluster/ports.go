package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// ErrPortInUse marks a port another process already listens on.
var ErrPortInUse = errors.New("port already in use")

// CheckPorts fails on the first port of o that cannot be bound, naming it
// and the flag that moves it.
func CheckPorts(o Options) error {
	for _, u := range o.ports() {
		l, err := net.Listen("tcp", u.addr())
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("%w: port %d on %s is taken by another program; stop it or choose another port with %s", ErrPortInUse, u.port, u.host, u.flag)
			}
			return fmt.Errorf("cannot listen on %s (%s): %w", u.addr(), u.flag, err)
		}
		l.Close()
	}
	return nil
}

// defaultAdvertiseAddress picks an IPv4 address of the default route's
// interface (else of any interface): the API server must advertise a
// non-loopback address the node owns so the kubernetes Service gets a real
// endpoint.
func defaultAdvertiseAddress() (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	if name := defaultRouteInterface(); name != "" {
		if ifc, err := net.InterfaceByName(name); err == nil {
			ifaces = append([]net.Interface{*ifc}, ifaces...)
		}
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.To4(), nil
			}
		}
	}
	return nil, errors.New("this machine has no non-loopback IPv4 address; set one with --advertise-address")
}

// defaultRouteInterface reads the IPv4 routing table for the default route.
func defaultRouteInterface() string {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == "00000000" {
			return f[0]
		}
	}
	return ""
}
