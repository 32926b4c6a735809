// Command tune measures skiff's search algorithms without a cluster: the
// time one suggestion takes after 100 and 1,000 finished trials, and the
// best value found on standard test functions (Branin, Hartmann-6) after
// 50 and 100 sequential trials, median over seeds, to set beside
// Optuna's (bench/tune/anchor_optuna.py, the same functions and budgets).
// -sklearn adds a real scikit-learn tuning task (bench/tune/sklearn_task.py,
// evaluated by one python3 process that has scikit-learn).
//
//	go run ./bench/tune [-seeds 10] [-sklearn] [-python /usr/bin/python3]
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/skiff-dev/skiff/internal/tune/suggest"
)

func main() {
	seeds := flag.Int("seeds", 10, "seeds per function and algorithm")
	withSklearn := flag.Bool("sklearn", false, "also tune the scikit-learn task (needs python3 with scikit-learn)")
	python := flag.String("python", "/usr/bin/python3", "the python3 for -sklearn")
	flag.Parse()
	if err := run(*seeds, *withSklearn, *python); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(seeds int, withSklearn bool, python string) error {
	fmt.Println("suggestion latency (one trial's parameters, 6 parameters, after n finished trials):")
	fmt.Printf("%-8s %8s %12s\n", "algorithm", "trials", "per call")
	for _, algorithm := range []string{"random", "sobol", "tpe"} {
		for _, n := range []int{100, 1000} {
			d, err := latency(algorithm, n)
			if err != nil {
				return err
			}
			fmt.Printf("%-8s %8d %12s\n", algorithm, n, d.Round(time.Microsecond/10))
		}
	}
	fmt.Printf("\nbest value found, median of %d seeds (lower is better; optimum: branin 0.397887, hartmann6 -3.32237):\n", seeds)
	fmt.Printf("%-10s %-8s %10s %10s\n", "function", "algorithm", "50 trials", "100 trials")
	fs := functions
	if withSklearn {
		task, err := startSklearn(python)
		if err != nil {
			return err
		}
		defer task.Close()
		fs = append(fs, task.function())
	}
	for _, f := range fs {
		for _, algorithm := range []string{"random", "tpe"} {
			at50, at100, err := quality(f, algorithm, seeds)
			if err != nil {
				return err
			}
			fmt.Printf("%-10s %-8s %10.5f %10.5f\n", f.name, algorithm, at50, at100)
		}
	}
	return nil
}

type function struct {
	name  string
	space suggest.Space
	eval  func(x []float64) (float64, error)
}

// pure is an objective that cannot fail.
func pure(f func(x []float64) float64) func(x []float64) (float64, error) {
	return func(x []float64) (float64, error) { return f(x), nil }
}

func unitSpace(d int, lo, hi []float64) suggest.Space {
	var s suggest.Space
	for i := range d {
		s = append(s, suggest.Param{Name: "x" + strconv.Itoa(i), Kind: suggest.Double, Min: lo[i], Max: hi[i]})
	}
	return s
}

var functions = []function{
	{"branin", unitSpace(2, []float64{-5, 0}, []float64{10, 15}), pure(branin)},
	{"hartmann6", unitSpace(6, []float64{0, 0, 0, 0, 0, 0}, []float64{1, 1, 1, 1, 1, 1}), pure(hartmann6)},
}

func branin(x []float64) float64 {
	a, b, c, r, s, t := 1.0, 5.1/(4*math.Pi*math.Pi), 5/math.Pi, 6.0, 10.0, 1/(8*math.Pi)
	return a*math.Pow(x[1]-b*x[0]*x[0]+c*x[0]-r, 2) + s*(1-t)*math.Cos(x[0]) + s
}

func hartmann6(x []float64) float64 {
	alpha := []float64{1.0, 1.2, 3.0, 3.2}
	A := [4][6]float64{{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}}
	P := [4][6]float64{{1312, 1696, 5569, 124, 8283, 5886}, {2329, 4135, 8307, 3736, 1004, 9991}, {2348, 1451, 3522, 2883, 3047, 6650}, {4047, 8828, 8732, 5743, 1091, 381}}
	sum := 0.0
	for i := range 4 {
		inner := 0.0
		for j := range 6 {
			inner += A[i][j] * math.Pow(x[j]-P[i][j]*1e-4, 2)
		}
		sum += alpha[i] * math.Exp(-inner)
	}
	return -sum
}

func values(space suggest.Space, a suggest.Assignment) []float64 {
	x := make([]float64, len(space))
	for i, p := range space {
		x[i], _ = strconv.ParseFloat(a[p.Name], 64)
	}
	return x
}

// quality runs sequential searches and returns the median best values
// after 50 and 100 trials.
func quality(f function, algorithm string, seeds int) (at50, at100 float64, err error) {
	var b50, b100 []float64
	for seed := range seeds {
		s, err := suggest.New(algorithm, f.space, nil, int64(seed))
		if err != nil {
			return 0, 0, err
		}
		var history []suggest.Trial
		best := math.Inf(1)
		for n := range 100 {
			a, err := s.Sample(n, history)
			if err != nil {
				return 0, 0, err
			}
			v, err := f.eval(values(f.space, a))
			if err != nil {
				return 0, 0, err
			}
			best = math.Min(best, v)
			history = append(history, suggest.Trial{Number: n, Assignment: a, State: suggest.Complete, Value: v})
			if n == 49 {
				b50 = append(b50, best)
			}
		}
		b100 = append(b100, best)
	}
	return median(b50), median(b100), nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// latency times suggestions after n finished trials of hartmann6.
func latency(algorithm string, n int) (time.Duration, error) {
	f := functions[1]
	s, err := suggest.New(algorithm, f.space, nil, 1)
	if err != nil {
		return 0, err
	}
	history := make([]suggest.Trial, 0, n)
	for i := range n {
		a, _ := suggest.New("random", f.space, nil, 9)
		as, _ := a.Sample(i, nil)
		v, _ := f.eval(values(f.space, as))
		history = append(history, suggest.Trial{Number: i, Assignment: as, State: suggest.Complete, Value: v})
	}
	const calls = 50
	start := time.Now()
	for i := range calls {
		if _, err := s.Sample(n+i, history); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / calls, nil
}
