package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// httpClient opens a new connection per request, as separate clients
// would: a kept-alive one would stay on the replica it first reached.
var httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// predict POSTs body to http://addr/predict and returns the answer.
func predict(addr, body string) (string, error) { return post("http://"+addr+"/predict", body) }

// post POSTs a JSON body to url and returns the answer.
func post(url, body string) (string, error) {
	resp, err := httpClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(data), fmt.Errorf("status %s", resp.Status)
	}
	return string(data), err
}

// requestStream sends requests one after another until stopped (at most
// 10 minutes, 20 a second), counting failures.
type requestStream struct {
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	sent     int
	failures []string
}

func startRequests(addr, body string) *requestStream {
	return startPosts("http://"+addr+"/predict", body)
}

// startPosts is startRequests to any URL.
func startPosts(url, body string) *requestStream {
	s := &requestStream{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		deadline := time.Now().Add(10 * time.Minute)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(deadline) {
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
			_, err := post(url, body)
			s.mu.Lock()
			s.sent++
			if err != nil {
				s.failures = append(s.failures, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *requestStream) stop() (int, []string) {
	close(s.done)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.failures
}
