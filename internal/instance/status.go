package instance

import (
	"fmt"
	"net/http"
	"time"

	"github.com/skiff-dev/skiff/internal/datadir"
	"github.com/skiff-dev/skiff/internal/pki"
)

// Status is what `skiff status` reports.
type Status struct {
	DataDir    string    `json:"dataDir"`
	Running    bool      `json:"running"`
	PID        int       `json:"pid,omitempty"`
	APIServer  string    `json:"apiServer,omitempty"`
	APIReady   bool      `json:"apiReady"`
	APIError   string    `json:"apiError,omitempty"`
	Kubeconfig string    `json:"kubeconfig,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	Versions   Versions  `json:"versions"`
}

// GetStatus inspects the data dir and, when skiff runs, asks the API
// server's /readyz.
func GetStatus(l datadir.Layout) (Status, error) {
	s := Status{DataDir: l.Root, Versions: CurrentVersions()}
	held, pid, err := datadir.Held(l)
	if err != nil {
		return s, err
	}
	if !held {
		return s, nil
	}
	s.Running, s.PID = true, pid
	st, ok, err := ReadState(l)
	if err != nil {
		return s, err
	}
	if !ok {
		s.APIError = "starting"
		return s, nil
	}
	s.APIServer, s.Kubeconfig, s.StartedAt, s.Versions = st.APIServer, st.Kubeconfig, st.StartedAt, st.Versions
	if err := probeReady(l, st.APIServer); err != nil {
		s.APIError = err.Error()
	} else {
		s.APIReady = true
	}
	return s, nil
}

func probeReady(l datadir.Layout, server string) error {
	client, err := pki.HTTPClient(l.PKI.CACert, l.PKI.AdminCert, l.PKI.AdminKey, 3*time.Second)
	if err != nil {
		return err
	}
	resp, err := client.Get(server + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz answered %s", resp.Status)
	}
	return nil
}
