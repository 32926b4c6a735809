package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// maxMirrorsInFlight bounds the mirror copies being sent at once; more
// are dropped (and counted) rather than queued.
const maxMirrorsInFlight = 512

// Gateway is the running data plane: its listeners, their routing tables
// and the connection pools to backends.
type Gateway struct {
	log        logr.Logger
	registry   *prometheus.Registry
	metrics    *metrics
	hub        *statsHub
	transports *transports
	proxy      *httputil.ReverseProxy
	mirrors    chan struct{}

	mu        sync.Mutex
	listeners map[string]*listener
}

// listener is one bound address.
type listener struct {
	address string
	ln      net.Listener
	server  *http.Server
	table   atomic.Pointer[table]
	certs   atomic.Pointer[[]tls.Certificate]
	tls     bool
}

// New makes a gateway with no listeners.
func New(log logr.Logger) *Gateway {
	g := &Gateway{
		log:        log,
		registry:   prometheus.NewRegistry(),
		transports: newTransports(),
		mirrors:    make(chan struct{}, maxMirrorsInFlight),
		listeners:  map[string]*listener{},
	}
	g.metrics = newMetrics(g.registry)
	g.hub = newStatsHub(newPoolMetrics(g.registry))
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      retrying{gw: g},
		ModifyResponse: modifyResponse,
		ErrorHandler:   proxyError,
		BufferPool:     newBufferPool(),
		// Errors are answered (and counted); a backend closing a stream
		// early is not the gateway's log to fill.
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
	return g
}

// Metrics serves the gateway's Prometheus metrics.
func (g *Gateway) Metrics() http.Handler { return MetricsHandler(g.registry) }

// Apply makes cfg what the gateway serves: new listeners are bound, the
// others get their new tables at once (requests in flight finish on the
// old ones), and listeners cfg no longer has are closed gracefully. It
// returns the error of each listener that could not be bound or whose
// routes do not compile; those keep serving what they served before.
func (g *Gateway) Apply(cfg Config) map[string]error {
	g.mu.Lock()
	defer g.mu.Unlock()
	errs := map[string]error{}
	keep := map[string]bool{}
	for _, lc := range cfg.Listeners {
		keep[lc.Address] = true
		t, err := compile(lc.Routes, g.metrics, g.hub)
		if err != nil {
			errs[lc.Address] = err
			continue
		}
		l := g.listeners[lc.Address]
		if l != nil && l.tls != (len(lc.Certificates) > 0) {
			g.close(l) // HTTP became HTTPS or back: bind afresh
			l = nil
		}
		if l == nil {
			if l, err = g.listen(lc.Address, len(lc.Certificates) > 0); err != nil {
				errs[lc.Address] = err
				continue
			}
		}
		certs := lc.Certificates
		l.certs.Store(&certs)
		l.table.Store(t)
	}
	for addr, l := range g.listeners {
		if !keep[addr] {
			g.close(l)
		}
	}
	g.updatePools()
	return errs
}

// updatePools gives each backend's pool what the tables now say of it,
// and retires the pools no table names.
func (g *Gateway) updatePools() {
	named := map[string]bool{}
	for _, l := range g.listeners {
		for _, b := range l.table.Load().backends {
			b.pool.set(b.Backend)
			named[b.Name] = true
		}
	}
	g.hub.keepOnly(named)
}

func (g *Gateway) listen(addr string, withTLS bool) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	l := &listener{address: addr, tls: withTLS}
	l.table.Store(&table{exact: map[string][]*entry{}})
	srv := &http.Server{
		Handler:           &handler{gw: g, table: l.table.Load},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	if withTLS {
		srv.Protocols.SetHTTP2(true)
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: l.certificate}
		ln = tls.NewListener(ln, srv.TLSConfig.Clone())
	} else {
		srv.Protocols.SetUnencryptedHTTP2(true) // gRPC without TLS
	}
	l.server, l.ln = srv, ln
	g.listeners[addr] = l
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error(err, "gateway listener stopped", "address", addr)
		}
	}()
	g.log.V(1).Info("gateway listening", "address", addr, "tls", withTLS)
	return l, nil
}

// certificate picks the listener's certificate for the client's SNI.
func (l *listener) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	certs := *l.certs.Load()
	for i := range certs {
		if hello.SupportsCertificate(&certs[i]) == nil {
			return &certs[i], nil
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("listener %s has no certificate", l.address)
	}
	return &certs[0], nil
}

// close stops a listener, letting its requests finish for a while.
func (g *Gateway) close(l *listener) {
	delete(g.listeners, l.address)
	_ = l.ln.Close() // the address is free at once, for a listener bound again
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = l.server.Shutdown(ctx)
	}()
}

// Close stops every listener and waits (within ctx) for their requests.
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	ls := g.listeners
	g.listeners = map[string]*listener{}
	g.mu.Unlock()
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.server.Shutdown(ctx))
	}
	g.transports.close()
	return errors.Join(errs...)
}
