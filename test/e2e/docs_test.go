package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docTimeout bounds one document's whole walkthrough.
const docTimeout = 10 * time.Minute

// TestDocs runs the console blocks of README.md and of every
// examples/*/README.md as a reader would, in a fresh HOME (so ~/.skiff is
// the data dir and ~/.kube/config the kubeconfig), each document against
// a skiff of its own, and compares what the commands print with what the
// documents show.
func TestDocs(t *testing.T) {
	docs, err := filepath.Glob("../../examples/*/README.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{"../../README.md", "../../examples/README.md"}, docs...)
	for _, doc := range docs {
		rel := strings.TrimPrefix(doc, "../../")
		t.Run(rel, func(t *testing.T) { runDoc(t, rel) })
	}
}

// TestMakeInstall checks the README's install step, which TestDocs skips:
// make install puts skiff on the PATH (here the binary under test, with
// the build itself a no-op).
func TestMakeInstall(t *testing.T) {
	prefix := t.TempDir()
	if out, err := exec.Command("make", "-C", "../..", "install", "GO=true", "BIN="+skiffBin, "PREFIX="+prefix).CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	cmd := exec.Command("/bin/sh", "-c", "command -v skiff && skiff version")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(prefix, "bin")+":/usr/bin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), filepath.Join(prefix, "bin", "skiff")+"\n") || !strings.Contains(string(out), "kubernetes v") {
		t.Errorf("skiff version from the PATH after make install: %v\n%s", err, out)
	}
}

func runDoc(t *testing.T, rel string) {
	text, err := os.ReadFile(filepath.Join("../..", rel))
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := parseDoc(string(text))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(cmds) == 0 {
		return
	}
	in := newInstance(t)
	in.dataDir = filepath.Join(in.home, ".skiff")
	rewrite := docRewrites(in.home)
	work := t.TempDir()
	copyTree(t, "../../examples", filepath.Join(work, "examples"), rewrite)
	copyTree(t, "../../README.md", filepath.Join(work, "README.md"), rewrite)
	bin := docBin(t, in)
	outDir := t.TempDir()
	script := docScript(cmds, outDir, work, rewrite) // a reader starts at the repository's root

	ctx, cancel := context.WithTimeout(context.Background(), docTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/bash", "--noprofile", "--norc", "-c", script)
	cmd.Env = []string{"HOME=" + in.home, "PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C.UTF-8", "TERM=dumb"}
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: the walkthrough stopped: %v\n%s", rel, err, out)
	}
	for i, c := range cmds {
		got, errOut := os.ReadFile(filepath.Join(outDir, strconv.Itoa(i)+".out"))
		rcText, errRC := os.ReadFile(filepath.Join(outDir, strconv.Itoa(i)+".rc"))
		if errOut != nil || errRC != nil {
			t.Errorf("%s:%d: $ %s\ndid not finish within %s", rel, c.Line, c.Script, docTimeout)
			break
		}
		rc, _ := strconv.Atoi(strings.TrimSpace(string(rcText)))
		if !statusOK(c, rc) {
			t.Errorf("%s:%d: $ %s\nexit status %d; it printed:\n%s", rel, c.Line, c.Script, rc, got)
			continue
		}
		want := make([]string, len(c.Want))
		for i, w := range c.Want {
			want[i] = rewrite.Replace(w)
		}
		if line, ok := matchOutput(want, string(got)); !ok {
			t.Errorf("%s:%d: $ %s\nthe output lacks %q (or has it out of order); it printed:\n%s", rel, c.Line, c.Script, line, got)
		}
	}
}

// docRewrites are the reader's machine made the test's: the folders the
// examples keep models in (/srv, /tmp) inside the test's HOME, and no sudo
// (the tests run as root).
func docRewrites(home string) *strings.Replacer {
	return strings.NewReplacer("/srv/skiff-models", filepath.Join(home, "srv/skiff-models"),
		"/tmp/skiff-examples", filepath.Join(home, "tmp/skiff-examples"), "sudo ", "")
}

// docBin holds the skiff a reader runs: the binary under test, with the
// test's free ports added to skiff up.
func docBin(t *testing.T, in *instance) string {
	t.Helper()
	bin := t.TempDir()
	ports := fmt.Sprintf("--api-port %d --etcd-port %d --kubelet-port %d --metrics-port %d --gateway-port %d --gateway-metrics-port %d",
		in.apiPort, in.etcdPort, in.kubeletPort, in.metricsPort, in.gatewayPort, in.gwMetrics)
	wrapper := "#!/bin/sh\nif [ \"$1\" = up ]; then shift; exec " + skiffBin + " up " + ports + " \"$@\"; fi\nexec " + skiffBin + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "skiff"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// docScript runs the commands in one shell, in order (so cd and
// variables carry over), each one's output and exit status to files of
// outDir, starting in dir; stdin is empty, as in CI.
func docScript(cmds []docCommand, outDir, dir string, rewrite *strings.Replacer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "exec </dev/null\ncd %q || exit 1\n", dir)
	for i, c := range cmds {
		out := filepath.Join(outDir, strconv.Itoa(i))
		fmt.Fprintf(&b, "{\n%s\n} >%q 2>&1\necho $? >%q\n", rewrite.Replace(c.Script), out+".out", out+".rc")
	}
	return b.String()
}

// copyTree copies a file or folder, rewriting what it says.
func copyTree(t *testing.T, src, dst string, rewrite *strings.Replacer) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if !bytes.Contains(data, []byte{0}) { // text: binaries stay as they are
			data = []byte(rewrite.Replace(string(data)))
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
