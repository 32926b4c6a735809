package podruntime

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeResult of one check; the error says why it failed.
type probeResult error

// runProbe performs one check of p against container c of the pod.
func (pr *podRun) runProbe(ctx context.Context, c *corev1.Container, p *corev1.Probe) probeResult {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host := pr.address()
	if host == "" {
		host = "127.0.0.1"
	}
	switch {
	case p.Exec != nil:
		var out strings.Builder
		err := pr.rt.Exec(ctx, pr.namespace, pr.name, c.Name, p.Exec.Command, ExecIO{Stdout: &out, Stderr: &out})
		if ctx.Err() != nil {
			return fmt.Errorf("command %q timed out after %s", strings.Join(p.Exec.Command, " "), timeout)
		}
		if err != nil {
			return fmt.Errorf("command %q failed: %v: %s", strings.Join(p.Exec.Command, " "), err, strings.TrimSpace(out.String()))
		}
		return nil
	case p.HTTPGet != nil:
		return httpProbe(ctx, host, c, p.HTTPGet)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return err
		}
		if p.TCPSocket.Host != "" {
			host = p.TCPSocket.Host
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("dial tcp %s:%d: %v", host, port, err)
		}
		conn.Close()
		return nil
	case p.GRPC != nil:
		return grpcProbe(ctx, net.JoinHostPort(host, strconv.Itoa(int(p.GRPC.Port))), p.GRPC)
	}
	return fmt.Errorf("probe has no handler")
}

func resolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q is not a named port of container %s", port.StrVal, c.Name)
}

func httpProbe(ctx context.Context, host string, c *corev1.Container, g *corev1.HTTPGetAction) probeResult {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return err
	}
	if g.Host != "" {
		host = g.Host
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	u, err = u.Parse(path)
	if err != nil {
		return fmt.Errorf("probe path %q: %v", g.Path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/skiff")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	// Like the kubelet: HTTPS probes do not verify, and redirects to other
	// hosts are not followed.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}} // #nosec G402 -- probes check liveness, not identity
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("Get %q: %v", u.String(), err)
	}
	defer resp.Body.Close()
	// Only the status counts; the body is read so the server is not cut
	// off mid-reply.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

func grpcProbe(ctx context.Context, addr string, g *corev1.GRPCAction) probeResult {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("grpc %s: %v", addr, err)
	}
	defer conn.Close()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("grpc health check %s: %v", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("service unhealthy (responded with %q)", resp.GetStatus())
	}
	return nil
}
