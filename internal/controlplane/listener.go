package controlplane

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"time"
)

// multiListener accepts on several listeners as one: the API server
// takes a single listener, and skiff serves it on loopback and on the pod
// network's gateway without opening it to every network (0.0.0.0).
type multiListener struct {
	ls    []net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func listenAll(ips []net.IP, port int) (net.Listener, error) {
	m := &multiListener{conns: make(chan net.Conn), done: make(chan struct{})}
	for _, ip := range ips {
		l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		if err != nil {
			m.Close()
			return nil, err
		}
		m.ls = append(m.ls, l)
	}
	for _, l := range m.ls {
		go m.accept(l)
	}
	return m, nil
}

func (m *multiListener) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of descriptors: let some close
			continue
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	var errs []error
	m.once.Do(func() {
		close(m.done)
		for _, l := range m.ls {
			errs = append(errs, l.Close())
		}
	})
	return errors.Join(errs...)
}

// Addr is the first listener's (the bind address).
func (m *multiListener) Addr() net.Addr { return m.ls[0].Addr() }
