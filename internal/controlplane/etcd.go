package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// ErrEtcdCorrupt marks an etcd data directory that cannot be opened. skiff
// never wipes it: the user decides.
var ErrEtcdCorrupt = errors.New("etcd data is damaged")

func (c *Config) etcdClientURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(c.EtcdPort)
}

// startEtcd starts embedded etcd and waits until it serves.
// fresh reports whether the data dir held no cluster before.
func (c *Config) startEtcd(ctx context.Context) (e *embed.Etcd, fresh bool, err error) {
	fresh, err = checkEtcdDir(c.Layout.EtcdDir)
	if err != nil {
		return nil, false, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "skiff"
	cfg.Dir = c.Layout.EtcdDir
	client, _ := url.Parse(c.etcdClientURL())
	// A single member needs no peer traffic; keep the peer listener on loopback.
	peer, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(c.EtcdPort+1))
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo.CertFile = c.Layout.PKI.EtcdServerCert
	cfg.ClientTLSInfo.KeyFile = c.Layout.PKI.EtcdServerKey
	cfg.ClientTLSInfo.TrustedCAFile = c.Layout.PKI.EtcdCACert
	cfg.ClientTLSInfo.ClientCertAuth = true
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{c.Layout.LogsDir + "/etcd.log"}
	cfg.QuotaBackendBytes = 8 << 30

	e, err = embed.StartEtcd(cfg)
	if err != nil {
		return nil, false, fmt.Errorf("starting etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, fresh, nil
	case err := <-e.Err():
		e.Close()
		return nil, false, fmt.Errorf("etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, false, fmt.Errorf("etcd in %s did not become ready within 60s (see %s)", cfg.Dir, cfg.LogOutputs[0])
	case <-ctx.Done():
		e.Close()
		return nil, false, ctx.Err()
	}
}

// checkEtcdDir refuses a data directory that etcd would fail on (or panic
// on) before etcd touches it, and reports whether it is empty.
func checkEtcdDir(dir string) (fresh bool, err error) {
	member := filepath.Join(dir, "member")
	if _, err := os.Stat(member); errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	db := filepath.Join(member, "snap", "db")
	if err := checkBolt(db); err != nil {
		return false, fmt.Errorf("%w: %s: %v; skiff will not wipe it: restore it from a backup, or move %s aside to start an empty cluster", ErrEtcdCorrupt, db, err, dir)
	}
	wal := filepath.Join(member, "wal")
	entries, err := os.ReadDir(wal)
	if err != nil || len(entries) == 0 {
		return false, fmt.Errorf("%w: %s has no write-ahead log; skiff will not wipe it: restore it from a backup, or move %s aside to start an empty cluster", ErrEtcdCorrupt, wal, dir)
	}
	return false, nil
}
