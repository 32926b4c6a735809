// Command registry measures the model registry on a running skiff up:
// the time from creating a ModelVersion to Ready (copied, hashed, loaded
// once, stored) for model files of the sizes given, against the floor of
// the same work done in this process (read, hash, parse, write the copy);
// and the start of a ModelService serving models:/ against the same file
// served from file://, alternating, to show that the registry adds nothing
// to serving beyond the one copy at registration.
//
//	go run ./bench/registry -kubeconfig ~/.skiff/kubeconfig -seed internal/modelserver/testdata/xgb-reg.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/model"
	"github.com/skiff-dev/skiff/internal/operator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

type bench struct {
	c   client.Client
	dir string
	ns  string
}

func run() error {
	seed := flag.String("seed", "internal/modelserver/testdata/xgb-reg.json", "an XGBoost model whose trees are repeated to the sizes wanted")
	sizes := flag.String("sizes", "1,100", "model file sizes to register, MB")
	runs := flag.Int("runs", 3, "registrations per size")
	serves := flag.Int("serves", 5, "ModelService starts per kind (file:// and models:/)")
	dir := flag.String("dir", "", "a folder on the node for the model files")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", flag.Lookup("kubeconfig").Value.String())
	if err != nil {
		return err
	}
	scheme, err := operator.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	b := &bench{c: c, dir: *dir, ns: "default"}
	ctx := context.Background()
	if err := c.Create(ctx, &mlv1.Model{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: "bench"}}); err != nil {
		return err
	}
	fmt.Println("| model file | registration (s), median | range | in-process floor (s) | ratio | runs |")
	fmt.Println("|---|---|---|---|---|---|")
	var first string
	for _, s := range strings.Split(*sizes, ",") {
		mb, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("-sizes: %w", err)
		}
		var reg, floor []time.Duration
		for i := range *runs {
			path, err := synthesize(*seed, filepath.Join(b.dir, fmt.Sprintf("m%d-%d.json", mb, i)), mb<<20, i)
			if err != nil {
				return err
			}
			f, err := measureFloor(path)
			if err != nil {
				return err
			}
			floor = append(floor, f)
			name, d, err := b.register(ctx, path)
			if err != nil {
				return err
			}
			reg = append(reg, d)
			if first == "" && mb <= 1 {
				first = name
			}
		}
		fmt.Printf("| %d MB | %.3f | %.3f-%.3f | %.3f | %.1f | %d |\n", mb, median(reg), minOf(reg), maxOf(reg), median(floor), median(reg)/median(floor), *runs)
	}
	if first == "" {
		return nil
	}
	return b.serving(ctx, first, *serves)
}

// synthesize writes an XGBoost model of about size bytes: the seed's trees
// repeated (variant makes each file's bytes, so its digest, differ).
func synthesize(seed, out string, size, variant int) (string, error) {
	data, err := os.ReadFile(seed)
	if err != nil {
		return "", err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", err
	}
	gb := doc["learner"].(map[string]any)["gradient_booster"].(map[string]any)["model"].(map[string]any)
	trees := gb["trees"].([]any)
	perTree := len(data) / len(trees)
	n := max(len(trees), size/perTree)
	var all, info []any
	for i := range n {
		t := cloneTree(trees[i%len(trees)].(map[string]any))
		t["id"] = i
		all = append(all, t)
		info = append(info, 0)
	}
	gb["trees"], gb["tree_info"] = all, info
	gb["gbtree_model_param"].(map[string]any)["num_trees"] = strconv.Itoa(n)
	doc["skiff_bench_variant"] = variant
	outData, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	return out, os.WriteFile(out, outData, 0o644)
}

func cloneTree(t map[string]any) map[string]any {
	out := make(map[string]any, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

// measureFloor is the registration's work in this process: read and hash
// the file into a copy, and parse it.
func measureFloor(path string) (time.Duration, error) {
	start := time.Now()
	in, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	fetched, err := artifact.CopyToFile(in, filepath.Dir(path), 0)
	if err != nil {
		return 0, err
	}
	defer os.Remove(fetched.Path)
	if _, err := model.Load(model.FormatXGBoost, fetched.Path); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// register creates a version of path and waits until it is Ready.
func (b *bench) register(ctx context.Context, path string) (string, time.Duration, error) {
	v := &mlv1.ModelVersion{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, GenerateName: "bench-"},
		Spec: mlv1.ModelVersionSpec{Model: "bench", ModelFormat: mlv1.ModelFormat{Name: "xgboost"}, Source: mlv1.ModelVersionSource{StorageURI: "file://" + path}}}
	start := time.Now()
	if err := b.c.Create(ctx, v); err != nil {
		return "", 0, err
	}
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := b.c.Get(ctx, client.ObjectKeyFromObject(v), v); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(v.Status.Conditions, mlv1.ConditionReady)
		if c != nil && c.Reason == "LoadFailed" {
			return false, fmt.Errorf("%s: %s", v.Name, c.Message)
		}
		return c != nil && c.Status == metav1.ConditionTrue, nil
	})
	return v.Name, time.Since(start), err
}

// serving starts a ModelService from file:// and one from models:/, one
// after the other, serves times, and prints their medians.
func (b *bench) serving(ctx context.Context, version string, serves int) error {
	var v mlv1.ModelVersion
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.ns, Name: version}, &v); err != nil {
		return err
	}
	uris := map[string]string{"file": v.Spec.Source.StorageURI, "registry": "models:/bench/" + strconv.FormatInt(v.Status.Version, 10)}
	times := map[string][]time.Duration{}
	for i := range serves {
		for _, kind := range []string{"file", "registry"} {
			d, err := b.serve(ctx, fmt.Sprintf("bench-%s-%d", kind, i), uris[kind])
			if err != nil {
				return err
			}
			times[kind] = append(times[kind], d)
		}
	}
	fmt.Println()
	fmt.Println("| ModelService from | create to Ready (s), median | range | runs |")
	fmt.Println("|---|---|---|---|")
	for _, kind := range []string{"file", "registry"} {
		fmt.Printf("| %s (%s) | %.3f | %.3f-%.3f | %d |\n", kind, uris[kind], median(times[kind]), minOf(times[kind]), maxOf(times[kind]), serves)
	}
	fmt.Printf("\nregistry / file: %.2f\n", median(times["registry"])/median(times["file"]))
	return nil
}

func (b *bench) serve(ctx context.Context, name, uri string) (time.Duration, error) {
	ms := &mlv1.ModelService{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name},
		Spec: mlv1.ModelServiceSpec{Predictor: mlv1.PredictorSpec{MinReplicas: ptr.To[int32](1),
			Model: &mlv1.ModelSpec{ModelFormat: mlv1.ModelFormat{Name: "xgboost"}, StorageURI: uri}}}}
	start := time.Now()
	if err := b.c.Create(ctx, ms); err != nil {
		return 0, err
	}
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := b.c.Get(ctx, client.ObjectKeyFromObject(ms), ms); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(ms.Status.Conditions, mlv1.ConditionReady), nil
	})
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("modelservice %s: %w", name, err)
	}
	// Gone before the next, so each start has the machine to itself.
	if err := b.c.Delete(ctx, ms); err != nil {
		return 0, err
	}
	return d, nil
}

func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	slices.Sort(out)
	return out
}

func median(ds []time.Duration) float64 { s := seconds(ds); return s[len(s)/2] }
func minOf(ds []time.Duration) float64  { return seconds(ds)[0] }
func maxOf(ds []time.Duration) float64  { s := seconds(ds); return s[len(s)-1] }
