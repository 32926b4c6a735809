package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/cluster"
	"github.com/skiff-dev/skiff/internal/controllers/modelservice"
	"github.com/skiff-dev/skiff/internal/operator"
	"github.com/skiff-dev/skiff/internal/progress"
)

// testGlobals are globals writing to buffers, on a data dir of the test's.
func testGlobals(t *testing.T) (*globals, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errOut bytes.Buffer
	return &globals{stdout: &out, stderr: &errOut, dataDir: t.TempDir()}, &out, &errOut
}

// execute runs the root command with args, each command's run function
// replaced by capture.
func execute(t *testing.T, g *globals, args []string, replace func(root *cobra.Command)) error {
	t.Helper()
	root := newRootCommand(g)
	replace(root)
	root.SetArgs(args)
	return root.ExecuteContext(context.Background())
}

// captureUp parses args as skiff's command line and returns what skiff up
// would run with.
func captureUp(t *testing.T, args ...string) (*UpOptions, *globals) {
	t.Helper()
	g, _, _ := testGlobals(t)
	var got *UpOptions
	err := execute(t, g, args, func(root *cobra.Command) {
		swap(root, NewCmdUp(g, func(o *UpOptions) error { got = o; return nil }))
	})
	if err != nil {
		t.Fatalf("skiff %s: %v", strings.Join(args, " "), err)
	}
	return got, g
}

// swap replaces the root's subcommand of the same name.
func swap(root, cmd *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() == cmd.Name() {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(cmd)
}

func TestUpFlags(t *testing.T) {
	t.Parallel()
	want := cluster.Defaults()
	want.PodCIDR = "10.99.0.0/16"
	want.APIPort = 7443
	want.PodNetwork = false
	got, g := captureUp(t, "up", "--pod-cidr", "10.99.0.0/16", "--api-port=7443", "--pod-network=false", "-d", "--timeout", "5s", "-v", "3", "-q")
	if diff := cmp.Diff(want, got.Cluster); diff != "" {
		t.Errorf("cluster options (-want +got):\n%s", diff)
	}
	if !got.Detach || got.Timeout != 5*time.Second || g.verbosity != 3 || !g.quiet {
		t.Errorf("detach %v timeout %v verbosity %d quiet %v; want true 5s 3 true", got.Detach, got.Timeout, g.verbosity, g.quiet)
	}
}

// sampleValue is a value unlike f's default that f's type accepts.
func sampleValue(t *testing.T, f *pflag.Flag) string {
	switch f.Value.Type() {
	case "bool":
		b, _ := strconv.ParseBool(f.DefValue)
		return strconv.FormatBool(!b)
	case "int":
		n, _ := strconv.Atoi(f.DefValue)
		return strconv.Itoa(n + 7)
	case "duration":
		d, _ := time.ParseDuration(f.DefValue)
		return (d + 7*time.Second).String()
	case "string":
		return "x-" + f.Name
	}
	t.Fatalf("flag --%s has type %s: give sampleValue a value for it", f.Name, f.Value.Type())
	return ""
}

// TestDetachedChildGetsEveryFlag sets every flag skiff up takes (its own
// and the global ones) and checks that the child's command line parses to
// the same options: a new flag reaches the child with nothing to add.
func TestDetachedChildGetsEveryFlag(t *testing.T) {
	t.Parallel()
	g, _, _ := testGlobals(t)
	up := NewCmdUp(g, nil)
	root := newRootCommand(g)
	args := []string{"up"}
	var set []string
	visit := func(f *pflag.Flag) {
		if f.Name == "help" || f.Name == "data-dir" {
			return
		}
		args = append(args, "--"+f.Name+"="+sampleValue(t, f))
		if f.Annotations[parentOnly] == nil {
			set = append(set, f.Name)
		}
	}
	up.Flags().VisitAll(visit)
	root.PersistentFlags().VisitAll(visit)
	parent, parentGlobals := captureUp(t, args...)
	if !parent.Detach {
		t.Fatalf("the parent does not detach: %v", args)
	}
	for _, name := range set {
		if !strings.Contains(strings.Join(parent.ChildFlags, " "), "--"+name+"=") {
			t.Errorf("--%s is not passed to the detached child: %v", name, parent.ChildFlags)
		}
	}
	child, childGlobals := captureUp(t, append([]string{"up", "--detach=false"}, parent.ChildFlags...)...)
	if diff := cmp.Diff(parent.Cluster, child.Cluster); diff != "" {
		t.Errorf("child's cluster options differ (-parent +child):\n%s", diff)
	}
	if child.Detach {
		t.Error("the child detaches again")
	}
	if parentGlobals.verbosity != childGlobals.verbosity || parentGlobals.quiet != childGlobals.quiet {
		t.Errorf("globals: parent -v %d -q %v, child -v %d -q %v", parentGlobals.verbosity, parentGlobals.quiet, childGlobals.verbosity, childGlobals.quiet)
	}
}

func TestChildFlagsLeaveUnsetFlagsOut(t *testing.T) {
	t.Parallel()
	got, _ := captureUp(t, "up", "-d", "--pod-cidr", "10.99.0.0/16")
	if diff := cmp.Diff([]string{"--pod-cidr=10.99.0.0/16"}, got.ChildFlags); diff != "" {
		t.Errorf("child flags (-want +got):\n%s", diff)
	}
}

func TestParseOtherCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want any
	}{
		{
			name: "down",
			args: []string{"down", "--timeout", "5s"},
			want: DownOptions{Timeout: 5 * time.Second},
		},
		{
			name: "status",
			args: []string{"status", "-o", "json"},
			want: StatusOptions{Output: "json"},
		},
		{
			name: "version",
			args: []string{"version", "-o", "yaml"},
			want: VersionOptions{Output: "yaml"},
		},
		{
			name: "recommend",
			args: []string{"recommend", "deploy/api", "-n", "team-a", "--kubeconfig", "/k"},
			want: RecommendOptions{Target: "deploy/api", Namespace: "team-a", Kubeconfig: "/k", MinCPU: "25m", MinMemory: "250Mi"},
		},
		{
			name: "export-sklearn",
			args: []string{"export-sklearn", "m.pkl", "m.json", "--features", "a,b"},
			want: ExportSklearnOptions{Model: "m.pkl", Out: "m.json", Python: "python3", Features: "a,b"},
		},
		{
			name: "fetch-model into the cache",
			args: []string{"fetch-model", "s3://b/k/model.json", "--cache", "/c", "--checksum", "sha256:ab", "--s3-endpoint", "10.42.0.1:9000", "--s3-insecure"},
			want: FetchModelOptions{URI: "s3://b/k/model.json", Cache: "/c", Checksum: "sha256:ab", S3: artifact.S3Config{Endpoint: "10.42.0.1:9000", Insecure: true}},
		},
		{
			name: "export-sklearn script only",
			args: []string{"export-sklearn", "--print-script"},
			want: ExportSklearnOptions{Python: "python3", PrintScript: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, _, _ := testGlobals(t)
			var got any
			err := execute(t, g, tt.args, func(root *cobra.Command) {
				swap(root, NewCmdDown(g, func(o *DownOptions) error { got = *o; return nil }))
				swap(root, NewCmdStatus(g, func(o *StatusOptions) error { got = *o; return nil }))
				swap(root, NewCmdVersion(g, func(o *VersionOptions) error { got = *o; return nil }))
				swap(root, NewCmdRecommend(g, func(o *RecommendOptions) error { got = *o; return nil }))
				swap(root, NewCmdExportSklearn(g, func(o *ExportSklearnOptions) error { got = *o; return nil }))
				swap(root, NewCmdFetchModel(g, func(o *FetchModelOptions) error { got = *o; return nil }))
			})
			if err != nil {
				t.Fatalf("skiff %v: %v", tt.args, err)
			}
			ignore := cmpopts.IgnoreUnexported(DownOptions{}, StatusOptions{}, VersionOptions{}, RecommendOptions{}, ExportSklearnOptions{}, FetchModelOptions{})
			if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeModelFlags(t *testing.T) {
	t.Parallel()
	g, _, _ := testGlobals(t)
	var got *ServeModelOptions
	err := execute(t, g, []string{"serve-model", "--model-repository", "/models", "--http-address", ":9000", "--grpc-address", "", "--log-format", "json"},
		func(root *cobra.Command) {
			swap(root, NewCmdServeModel(g, func(o *ServeModelOptions) error { got = o; return nil }))
		})
	if err != nil {
		t.Fatal(err)
	}
	s := got.Server
	if s.Repository != "/models" || s.HTTPAddress != ":9000" || s.GRPCAddress != "" || got.LogFormat != "json" {
		t.Errorf("got %+v, log format %q", s, got.LogFormat)
	}
}

func TestServeModelHelpNamesItsFlags(t *testing.T) {
	t.Parallel()
	g, out, _ := testGlobals(t)
	if err := execute(t, g, []string{"serve-model", "--help"}, func(*cobra.Command) {}); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, want := range []string{"(--http-address)", "(--grpc-address)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, stale := range []string{"--http-port", "--grpc-port"} {
		if strings.Contains(help, stale) {
			t.Errorf("help names %s, which is no flag", stale)
		}
	}
}

func TestRunFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		run     func(g *globals) error
		wantErr string // substring; "" means success
		wantOut string // substring of stdout
	}{
		{
			name:    "status of a data dir that never ran",
			run:     func(g *globals) error { return statusRun(&StatusOptions{g: g}) },
			wantOut: "stopped",
		},
		{
			name:    "status as json",
			run:     func(g *globals) error { return statusRun(&StatusOptions{g: g, Output: "json"}) },
			wantOut: `"running": false`,
		},
		{
			name:    "status with an unknown format",
			run:     func(g *globals) error { return statusRun(&StatusOptions{g: g, Output: "xml"}) },
			wantErr: `unknown output format "xml"`,
		},
		{
			name:    "version",
			run:     func(g *globals) error { return versionRun(&VersionOptions{g: g}) },
			wantOut: "\nkubernetes ",
		},
		{
			name:    "down when nothing runs",
			run:     func(g *globals) error { return downRun(&DownOptions{g: g, Timeout: time.Second}) },
			wantOut: "skiff is not running on ",
		},
		{
			name: "up with a bad flag value names the flag",
			run: func(g *globals) error {
				o := cluster.Defaults()
				o.PodCIDR = "nonsense"
				return upRun(&UpOptions{g: g, ctx: context.Background(), Cluster: o})
			},
			wantErr: `--pod-cidr "nonsense"`,
		},
		{
			name:    "recommend something that is no Deployment",
			run:     func(g *globals) error { return recommendRun(&RecommendOptions{g: g, Target: "pod/x"}) },
			wantErr: "name a Deployment as deployment/<name>",
		},
		{
			name:    "serve-model without a repository",
			run:     func(g *globals) error { return serveModelRun(&ServeModelOptions{g: g, ctx: context.Background()}) },
			wantErr: "--model-repository is required",
		},
		{
			name: "serve-model with an unknown log format",
			run: func(g *globals) error {
				o := &ServeModelOptions{g: g, ctx: context.Background(), LogFormat: "xml"}
				o.Server.Repository = t.TempDir()
				return serveModelRun(o)
			},
			wantErr: `--log-format "xml"`,
		},
		{
			name:    "export-sklearn prints its script",
			run:     func(g *globals) error { return exportSklearnRun(&ExportSklearnOptions{g: g, PrintScript: true}) },
			wantOut: "def ",
		},
		{
			name: "export-sklearn with a Python that is not there",
			run: func(g *globals) error {
				return exportSklearnRun(&ExportSklearnOptions{g: g, ctx: context.Background(), Python: "/no/such/python", Model: "m.pkl", Out: "m.json"})
			},
			wantErr: "running /no/such/python",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, out, _ := testGlobals(t)
			err := tt.run(g)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one with %q", err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestStatusJSONIsAnObject(t *testing.T) {
	t.Parallel()
	g, out, _ := testGlobals(t)
	if err := statusRun(&StatusOptions{g: g, Output: "json"}); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if v["dataDir"] != g.dataDir {
		t.Errorf("dataDir %v, want %s", v["dataDir"], g.dataDir)
	}

}

func TestASecondSignalDoesNotCutTheStopShort(t *testing.T) {
	t.Parallel()
	result := make(chan error, 1)
	sigs := make(chan os.Signal, 2)
	stops := 0
	var rec progress.Recorder
	done := make(chan error, 1)
	go func() { done <- waitForStop(result, sigs, func() { stops++ }, progress.New(rec.Sink)) }()
	sigs <- syscall.SIGINT
	sigs <- syscall.SIGINT
	select {
	case err := <-done:
		t.Fatalf("returned before the server stopped: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	result <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if stops != 1 {
		t.Errorf("asked the server to stop %d times, want 1", stops)
	}
	lines := rec.Lines()
	if len(lines) != 2 || lines[1].Level != progress.Warning {
		t.Errorf("progress %v: want a line for the stop and a warning for the second signal", lines)
	}
}

func TestGatewayRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    *modelservice.GatewayRef
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "infra/public", want: &modelservice.GatewayRef{Namespace: "infra", Name: "public"}},
		{in: "public", wantErr: true},
		{in: "/public", wantErr: true},
		{in: "a/b/c", wantErr: true},
	}
	for _, tt := range tests {
		got, err := gatewayRef(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("gatewayRef(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("gatewayRef(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestGatewayFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    GatewayOptions
		want    *operator.DefaultGateway
		wantSvc string
		wantErr string
	}{
		{name: "in a pod", opts: GatewayOptions{BindAddress: "0.0.0.0", AddressService: "skiff-system/skiff-gateway", DefaultGateway: "skiff-system/skiff", DefaultPort: 8080},
			want: &operator.DefaultGateway{Namespace: "skiff-system", Name: "skiff", Port: 8080}, wantSvc: "skiff-system/skiff-gateway"},
		{name: "plain", opts: GatewayOptions{BindAddress: "127.0.0.1"}},
		{name: "bad bind address", opts: GatewayOptions{BindAddress: "localhost"}, wantErr: `--bind-address "localhost": give an IP address`},
		{name: "bad service", opts: GatewayOptions{BindAddress: "0.0.0.0", AddressService: "skiff-gateway"}, wantErr: `--address-service "skiff-gateway": give it as namespace/name`},
		{name: "bad port", opts: GatewayOptions{BindAddress: "0.0.0.0", DefaultGateway: "a/b", DefaultPort: 0}, wantErr: "--default-port 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.complete()
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q...", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tt.opts.Gateway.Default); diff != "" {
				t.Errorf("default gateway (-want +got):\n%s", diff)
			}
			if got := fmt.Sprint(tt.opts.Gateway.AddressService); tt.wantSvc != "" && got != tt.wantSvc {
				t.Errorf("address service %s, want %s", got, tt.wantSvc)
			}
			if got := tt.opts.Gateway.BindAddress(nil); got != tt.opts.BindAddress {
				t.Errorf("bind address %s, want %s", got, tt.opts.BindAddress)
			}
		})
	}
}

// TestDownSaysItStopsAForegroundSkiffToo: skiff down stops whichever
// skiff runs on the data dir, and its help must say so (issue 16).
func TestDownSaysItStopsAForegroundSkiffToo(t *testing.T) {
	t.Parallel()
	if short := NewCmdDown(&globals{}, nil).Short; !strings.Contains(short, "another terminal") {
		t.Errorf("skiff down's help: %q", short)
	}
}
