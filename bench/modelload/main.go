// Command modelload is a bounded load generator for model servers on this
// machine: it sends the same request over REST or v2 gRPC from a number of
// concurrent clients for a fixed time and reports throughput and latency
// percentiles. It refuses any address that is not loopback.
//
//	modelload -url http://127.0.0.1:8080/predict -body row.json -c 1 -d 5s -name "skiff /predict"
//	modelload -grpc 127.0.0.1:8081 -model m -row 0.1,0.2,... -c 8 -d 5s
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/skiff-dev/skiff/internal/modelserver/inferencepb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "modelload:", err)
		os.Exit(1)
	}
}

type result struct {
	latencies []time.Duration
	errors    int
	firstErr  string
}

func run() error {
	target := flag.String("url", "", "REST URL to POST the body to")
	bodyFile := flag.String("body", "", "file with the request body (REST)")
	grpcAddr := flag.String("grpc", "", "host:port of a v2 gRPC server")
	modelName := flag.String("model", "", "model name (gRPC)")
	row := flag.String("row", "", "comma-separated feature values, one row (gRPC)")
	clients := flag.Int("c", 1, "concurrent clients")
	duration := flag.Duration("d", 5*time.Second, "how long to send (at most 60s)")
	warmup := flag.Duration("warmup", time.Second, "how long to send before measuring")
	name := flag.String("name", "", "label for the output line")
	serve := flag.String("serve", "", "instead of sending, serve an empty JSON answer on this loopback address for -serve-for (the HTTP floor)")
	serveFor := flag.Duration("serve-for", 10*time.Minute, "how long -serve runs")
	flag.Parse()
	if *serve != "" {
		return serveEmpty(*serve, *serveFor)
	}
	if *duration > time.Minute || *clients < 1 || *clients > 64 {
		return fmt.Errorf("-d at most 60s and -c from 1 to 64: the load stays bounded")
	}
	var send func(ctx context.Context) error
	switch {
	case *target != "":
		u, err := url.Parse(*target)
		if err != nil {
			return err
		}
		if err := loopbackOnly(u.Host); err != nil {
			return err
		}
		body, err := os.ReadFile(*bodyFile)
		if err != nil {
			return err
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}, Timeout: 10 * time.Second}
		send = func(ctx context.Context) error {
			resp, err := client.Post(*target, "application/json", bytes.NewReader(body))
			if err != nil {
				return err
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", resp.Status, data)
			}
			return nil
		}
	case *grpcAddr != "":
		if err := loopbackOnly(*grpcAddr); err != nil {
			return err
		}
		conn, err := grpc.NewClient(*grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		client := pb.NewGRPCInferenceServiceClient(conn)
		var values []float64
		for _, f := range strings.Split(*row, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return fmt.Errorf("-row: %w", err)
			}
			values = append(values, v)
		}
		req := &pb.ModelInferRequest{ModelName: *modelName, Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "input-0", Datatype: "FP64", Shape: []int64{1, int64(len(values))},
			Contents: &pb.InferTensorContents{Fp64Contents: values},
		}}}
		send = func(ctx context.Context) error {
			_, err := client.ModelInfer(ctx, req)
			return err
		}
	default:
		return fmt.Errorf("give -url and -body, or -grpc, -model and -row")
	}

	res := load(send, *clients, *warmup, *duration)
	if res.errors > 0 {
		return fmt.Errorf("%d requests failed; first: %s", res.errors, res.firstErr)
	}
	lat := res.latencies
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return fmt.Errorf("no request completed")
	}
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	fmt.Printf("%-34s c=%-2d requests=%-7d req/s=%-9.0f p50_us=%-7.0f p99_us=%.0f\n",
		*name, *clients, len(lat), float64(len(lat))/duration.Seconds(), pct(0.50), pct(0.99))
	return nil
}

// load runs the clients for warmup+duration and keeps the latencies of
// requests that started after the warm-up.
func load(send func(context.Context) error, clients int, warmup, duration time.Duration) result {
	start := time.Now()
	measureFrom, end := start.Add(warmup), start.Add(warmup+duration)
	ctx, cancel := context.WithDeadline(context.Background(), end.Add(10*time.Second))
	defer cancel()
	results := make([]result, clients)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(r *result) {
			defer wg.Done()
			for {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				err := send(ctx)
				d := time.Since(t0)
				if err != nil {
					r.errors++
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
					continue
				}
				if t0.After(measureFrom) {
					r.latencies = append(r.latencies, d)
				}
			}
		}(&results[c])
	}
	wg.Wait()
	var all result
	for _, r := range results {
		all.latencies = append(all.latencies, r.latencies...)
		all.errors += r.errors
		if all.firstErr == "" {
			all.firstErr = r.firstErr
		}
	}
	return all
}

// serveEmpty answers every request with a constant JSON body: the cost of
// Go's HTTP stack and the loopback round trip alone, for comparison.
func serveEmpty(addr string, d time.Duration) error {
	if err := loopbackOnly(addr); err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"prediction":0}`))
	})}
	time.AfterFunc(d, func() { _ = srv.Close() })
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// loopbackOnly keeps the load on this machine.
func loopbackOnly(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address: modelload only sends to this machine", host)
	}
	return nil
}
