package serviceproxy

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needsFreeTable skips unless this test may own the machine's kube-proxy
// table (root, nft, and no table: no skiff or kube-proxy running).
func needsFreeTable(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft")
	}
	if exists, err := tableExists(); err != nil || exists {
		t.Skipf("the kube-proxy table is in use here (%v)", err)
	}
}

func TestClaimIsExclusiveAndRemovesOnlySkiffsTable(t *testing.T) {
	needsFreeTable(t)
	dir := t.TempDir()
	c, err := ClaimTable(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ClaimTable(dir); !errors.Is(err, ErrBusy) {
		t.Errorf("second claim: %v, want ErrBusy", err)
	}
	if err := Cleanup(dir); err != nil {
		t.Errorf("Cleanup while claimed must leave the table to its owner: %v", err)
	}
	// A table skiff made, then a crash: the marker stays, the next claim
	// removes the table.
	if out, err := exec.Command("nft", "add", "table", "ip", kubeProxyTable).CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	t.Cleanup(func() { _ = deleteKubeProxyTable() })
	_ = c.lock.Close() // as if the process died: the kernel frees the lock
	c, err = ClaimTable(dir)
	if err != nil {
		t.Fatalf("claim after a crash: %v", err)
	}
	if exists, _ := tableExists(); exists {
		t.Error("the crashed skiff's table was not removed")
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	// A table nobody marked is someone else's: refused, left alone.
	if out, err := exec.Command("nft", "add", "table", "ip", kubeProxyTable).CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	if _, err := ClaimTable(dir); err == nil || !strings.Contains(err.Error(), "skiff did not create it") {
		t.Errorf("claim over a foreign table: %v", err)
	}
	if exists, _ := tableExists(); !exists {
		t.Error("a foreign table was removed")
	}
}
