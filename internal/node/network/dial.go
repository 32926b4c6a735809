package network

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"
)

// DialIn connects to addr from inside the network namespace at nsPath
// (kubectl port-forward reaches a pod's loopback, as the kubelet's does).
// The socket is made on a thread that has joined the namespace; a socket
// stays in the namespace it was made in.
func DialIn(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("pod network namespace %s: %w", nsPath, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("entering pod network namespace: %w", err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		// A thread that cannot go back stays locked and dies with this
		// goroutine, so nothing else ever runs in the pod's namespace.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}
