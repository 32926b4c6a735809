package serviceproxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// ErrBusy means another skiff runs the service proxy on this machine.
var ErrBusy = errors.New("another skiff runs the service proxy on this machine")

// kubeProxyTable is upstream's fixed table name (family ip).
const kubeProxyTable = "kube-proxy"

// TableClaim is skiff's hold on the kube-proxy table: a lock while it
// runs (one service proxy per machine: the table name is fixed), and a
// marker that survives a crash, so the next skiff knows the table it
// finds is skiff's to remove, and never removes one a real kube-proxy made.
type TableClaim struct {
	lock   *os.File
	marker string
	done   bool
}

// ClaimTable takes this machine's kube-proxy table for the skiff whose
// machine-wide state is in stateDir.
func ClaimTable(stateDir string) (*TableClaim, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	lockPath := filepath.Join(stateDir, "kube-proxy.lock")
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		holder, _ := os.ReadFile(lockPath)
		return nil, fmt.Errorf("%w (%s), and its nftables table is one per machine: stop it first (skiff down --data-dir ...), or start this one with --pod-network=false", ErrBusy, holder)
	}
	c := &TableClaim{lock: f, marker: filepath.Join(stateDir, "kube-proxy.owned")}
	exists, err := tableExists()
	if err != nil {
		c.Release()
		return nil, err
	}
	if exists {
		if _, err := os.Stat(c.marker); err != nil {
			c.Release()
			return nil, fmt.Errorf("nftables table \"ip %s\" exists and skiff did not create it (is a kube-proxy running on this machine?); skiff leaves it alone and cannot run its own service proxy beside it", kubeProxyTable)
		}
		// A crashed skiff's: clear it before upstream programs it anew.
		if err := deleteKubeProxyTable(); err != nil {
			c.Release()
			return nil, err
		}
	}
	if err := os.WriteFile(c.marker, nil, 0o644); err != nil {
		c.Release()
		return nil, err
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "pid %d", os.Getpid())
	return c, nil
}

// Release removes the marker (once the table is gone) and the lock; Run
// calls it, or the owner of a claim Run never got.
func (c *TableClaim) Release() error {
	if c.done {
		return nil
	}
	c.done = true
	var err error
	if exists, _ := tableExists(); !exists {
		err = os.Remove(c.marker)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	}
	_ = c.lock.Truncate(0)
	_ = unix.Flock(int(c.lock.Fd()), unix.LOCK_UN)
	return errors.Join(err, c.lock.Close())
}

func kubeProxyNFT() (knftables.Interface, error) {
	return knftables.New(knftables.IPv4Family, kubeProxyTable)
}

func tableExists() (bool, error) {
	nft, err := kubeProxyNFT()
	if err != nil {
		return false, fmt.Errorf("the service proxy needs the nft tool (Debian package nftables): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = nft.List(ctx, "chains")
	switch {
	case err == nil:
		return true, nil
	case knftables.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("listing nftables table %s: %w", kubeProxyTable, err)
}

func deleteKubeProxyTable() error {
	nft, err := kubeProxyNFT()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx := nft.NewTransaction()
	tx.Delete(&knftables.Table{})
	if err := nft.Run(ctx, tx); err != nil && !knftables.IsNotFound(err) {
		return fmt.Errorf("deleting nftables table %s: %w", kubeProxyTable, err)
	}
	return nil
}

// Cleanup removes what a crashed skiff's service proxy left: the table,
// if skiff's marker says it is skiff's and no skiff holds the lock.
func Cleanup(stateDir string) error {
	c, err := ClaimTable(stateDir)
	if errors.Is(err, ErrBusy) {
		return nil // the table is the running skiff's
	}
	if err != nil {
		return err
	}
	return errors.Join(deleteKubeProxyTable(), c.Release())
}
