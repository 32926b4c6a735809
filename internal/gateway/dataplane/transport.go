package dataplane

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// transports are the keep-alive pools to backends: HTTP/1.1, and HTTP/2
// without TLS for gRPC backends.
type transports struct {
	h1, h2c *http.Transport
}

func newTransports() *transports {
	base := func() *http.Transport {
		return &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
		}
	}
	h1, h2c := base(), base()
	h2c.Protocols = new(http.Protocols)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	return &transports{h1: h1, h2c: h2c}
}

func (g *Gateway) transport(b *backend) *http.Transport {
	if b.H2C {
		return g.transports.h2c
	}
	return g.transports.h1
}

func (t *transports) close() {
	t.h1.CloseIdleConnections()
	t.h2c.CloseIdleConnections()
}

// retrying is the reverse proxy's transport: a connection refused by an
// endpoint (a pod just gone) moves the request to the next one, which is
// safe for any method because nothing was sent.
type retrying struct{ gw *Gateway }

func (t retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := routingOf(req.Context())
	tr := t.gw.transport(rt.backend)
	tries := min(maxTries, len(rt.ticket.eps))
	for n := 0; ; n++ {
		res, err := tr.RoundTrip(req)
		if err == nil || n+1 >= tries || !unsent(req, err) {
			return res, err
		}
		t.gw.metrics.retries.Inc()
		req.URL.Host = rt.ticket.endpoint(n + 1)
	}
}

// unsent says whether err came before any of req went out.
func unsent(req *http.Request, err error) bool {
	if b, ok := req.Body.(*onceBody); ok && b.read {
		return false
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// bufferPool lends the reverse proxy its copy buffers, which it would
// otherwise allocate (32 KiB) for every request and response.
type bufferPool struct{ pool sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p *bufferPool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
