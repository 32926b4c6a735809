package kubeconfig

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUserRequestRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  UserRequest
		want string
	}{
		{name: "no user", req: UserRequest{}, want: "--user is required"},
		{name: "a component's name", req: UserRequest{User: "system:kube-scheduler"}, want: "belong to the cluster's own components"},
		{name: "masters", req: UserRequest{User: "eve", Groups: []string{"system:masters"}}, want: "bypass every RBAC rule"},
		{name: "too short", req: UserRequest{User: "bob", Expiration: time.Minute}, want: "at least 10m"},
		{name: "fine", req: UserRequest{User: "alice", Groups: []string{"team-vision"}, Expiration: time.Hour}},
	}
	for _, tt := range tests {
		err := tt.req.validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestRequestNamesUserAndGroups(t *testing.T) {
	t.Parallel()
	_, csrPEM, err := newKeyAndRequest(UserRequest{User: "alice", Groups: []string{"team-vision", "ml"}})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != "alice" {
		t.Errorf("common name %q", csr.Subject.CommonName)
	}
	// A DER SET is sorted, so the groups come back in byte order.
	if diff := cmp.Diff([]string{"ml", "team-vision"}, csr.Subject.Organization); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}
