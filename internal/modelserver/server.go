// Package modelserver serves models from a model repository over the Open
// Inference Protocol v2 (REST and gRPC), KServe's v1 REST and the seeds'
// simple POST /predict, with Prometheus metrics and graceful shutdown. It
// is data plane: no Kubernetes imports, so 'skiff serve-model' runs as a
// pod's command on the skiff node or as a container on any cluster.
package modelserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"

	"github.com/skiff-dev/skiff/internal/modelrepo"
	"github.com/skiff-dev/skiff/internal/modelserver/inferencepb"
)

// Options configure a model server.
type Options struct {
	// Repository is the model repository folder.
	Repository string
	// HTTPAddress serves REST (v2, v1, /predict) and /metrics.
	HTTPAddress string
	// GRPCAddress serves the v2 gRPC protocol; empty turns it off.
	GRPCAddress string
	// PollInterval is how often the repository is rescanned for changes.
	PollInterval time.Duration
	// MaxRequestBytes bounds a request body; larger ones get 413.
	MaxRequestBytes int64
	// DefaultModel answers POST /predict; empty means the only model.
	DefaultModel string
	// ShutdownTimeout bounds the drain of in-flight requests at stop.
	ShutdownTimeout time.Duration
	// Version is the server version that metadata reports.
	Version string
}

// Defaults for Options' zero fields.
const (
	DefaultPollInterval    = 2 * time.Second
	DefaultMaxRequestBytes = 8 << 20
	DefaultShutdownTimeout = 30 * time.Second
)

// Server is a model server with its listeners open.
type Server struct {
	opts    Options
	repo    *modelrepo.Repository
	metrics *metrics
	http    *http.Server
	grpc    *grpc.Server
	httpL   net.Listener
	grpcL   net.Listener
}

// New opens the repository, loads it once and opens the listeners, so that
// a bad folder or a taken port is reported before serving starts.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	s := &Server{opts: opts, metrics: newMetrics()}
	repo, err := modelrepo.New(opts.Repository, s.metrics.observeBatch)
	if err != nil {
		return nil, err
	}
	s.repo = repo
	repo.Scan(ctx)
	if s.httpL, err = net.Listen("tcp", opts.HTTPAddress); err != nil {
		return nil, fmt.Errorf("REST listener: %w", err)
	}
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if opts.GRPCAddress != "" {
		if s.grpcL, err = net.Listen("tcp", opts.GRPCAddress); err != nil {
			s.httpL.Close()
			return nil, fmt.Errorf("gRPC listener: %w", err)
		}
		s.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(int(opts.MaxRequestBytes)))
		inferencepb.RegisterGRPCInferenceServiceServer(s.grpc, &grpcService{s: s})
		s.shareRESTPort()
	}
	return s, nil
}

// shareRESTPort answers gRPC on the REST port too (HTTP/2 without TLS), so
// that one address (a Service's port 80, a ModelService's URL) carries
// both protocols; the gRPC port stays the fast path.
func (s *Server) shareRESTPort() {
	rest := s.http.Handler
	s.http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			s.grpc.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
	s.http.Protocols = new(http.Protocols)
	s.http.Protocols.SetHTTP1(true)
	s.http.Protocols.SetUnencryptedHTTP2(true)
}

// Close closes the listeners of a server that will not Run.
func (s *Server) Close() {
	s.httpL.Close()
	if s.grpcL != nil {
		s.grpcL.Close()
	}
}

// Err is why configured models have no version serving, or nil.
func (s *Server) Err() error { return s.repo.Err() }

// HTTPAddr is where REST listens.
func (s *Server) HTTPAddr() string { return s.httpL.Addr().String() }

// GRPCAddr is where gRPC listens, or "".
func (s *Server) GRPCAddr() string {
	if s.grpcL == nil {
		return ""
	}
	return s.grpcL.Addr().String()
}

// Ready is true when every configured model has a version serving.
func (s *Server) Ready() bool { return s.repo.Ready() }

// Run serves until ctx ends, then stops taking requests and drains those
// in flight (up to ShutdownTimeout).
func (s *Server) Run(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx)
	errs := make(chan error, 2)
	go func() {
		if err := s.http.Serve(s.httpL); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("REST: %w", err)
		}
	}()
	if s.grpc != nil {
		go func() {
			if err := s.grpc.Serve(s.grpcL); err != nil {
				errs <- fmt.Errorf("gRPC: %w", err)
			}
		}()
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() { _ = s.repo.Run(watchCtx, s.opts.PollInterval) }()
	log.Info("Serving models", "rest", s.HTTPAddr(), "grpc", s.GRPCAddr(), "repository", s.opts.Repository, "ready", s.Ready())

	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	log.Info("Stopping: draining in-flight requests", "timeout", s.opts.ShutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	if s.grpc != nil {
		stopped := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(stopped) }()
		defer func() {
			select {
			case <-stopped:
			case <-drainCtx.Done():
				s.grpc.Stop()
			}
		}()
	}
	if serr := s.http.Shutdown(drainCtx); serr != nil && err == nil {
		err = fmt.Errorf("draining REST requests: %w", serr)
	}
	return err
}
