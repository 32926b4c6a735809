package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/skiff-dev/skiff/internal/tune/suggest"
)

// sklearnTask is bench/tune/sklearn_task.py served by one python3
// process: the cross-validated RMSE of an SVR of the diabetes data for an
// assignment, one request at a time.
type sklearnTask struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startSklearn(python string) (*sklearnTask, error) {
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "sklearn_task.py")
	cmd := exec.Command(python, script, "serve")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s (-python names another): %w", python, script, err)
	}
	return &sklearnTask{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

func (t *sklearnTask) function() function {
	space := suggest.Space{
		{Name: "C", Kind: suggest.Double, Min: 1e-2, Max: 1e3, Log: true},
		{Name: "gamma", Kind: suggest.Double, Min: 1e-4, Max: 1, Log: true},
		{Name: "epsilon", Kind: suggest.Double, Min: 1e-3, Max: 1e2, Log: true},
	}
	return function{name: "sklearn", space: space, eval: t.eval}
}

// eval asks the process for the RMSE at x (C, gamma, epsilon).
func (t *sklearnTask) eval(x []float64) (float64, error) {
	req, err := json.Marshal(map[string]float64{"C": x[0], "gamma": x[1], "epsilon": x[2]})
	if err != nil {
		return 0, err
	}
	if _, err := fmt.Fprintf(t.in, "%s\n", req); err != nil {
		return 0, fmt.Errorf("sklearn task: %w", err)
	}
	if !t.out.Scan() {
		return 0, fmt.Errorf("sklearn task ended (its error is above): %v", t.out.Err())
	}
	return strconv.ParseFloat(strings.TrimSpace(t.out.Text()), 64)
}

func (t *sklearnTask) Close() error {
	t.in.Close()
	return t.cmd.Wait()
}
