package kubeconfig

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// UserRequest is a person's identity: a client certificate with the user
// name as its common name and the groups as its organizations, which is
// how the API server's x509 authenticator reads them.
type UserRequest struct {
	User       string
	Groups     []string
	Expiration time.Duration // 0: the signer's default (a year here)
	// Cluster names the cluster, user and context in the kubeconfig;
	// Namespace is the context's namespace (default: default).
	Cluster   string
	Namespace string
	// Progress, when set, hears each step (for people).
	Progress func(format string, args ...any)
}

// ForUser makes a kubeconfig for req.User, as kubeadm's `kubeconfig user`
// does but through the CertificateSigningRequest API, so that the key
// never leaves this process and the cluster's own signer vouches for it:
// a key is generated, a CSR for kubernetes.io/kube-apiserver-client is
// created and approved with admin's rights, and the issued certificate is
// put with the key into a kubeconfig for admin's server.
func ForUser(ctx context.Context, admin *rest.Config, req UserRequest) (*clientcmdapi.Config, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	say := req.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	client, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	key, csrPEM, err := newKeyAndRequest(req)
	if err != nil {
		return nil, err
	}
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "skiff-user-" + req.User + "-", Labels: map[string]string{"ml.skiff.dev/user": req.User}},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csrPEM,
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
	if req.Expiration > 0 {
		seconds := int32(req.Expiration.Seconds())
		csr.Spec.ExpirationSeconds = &seconds
	}
	csrs := client.CertificatesV1().CertificateSigningRequests()
	if csr, err = csrs.Create(ctx, csr, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating the certificate signing request for %s: %w", req.User, err)
	}
	say("certificatesigningrequest/%s created", csr.Name)
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: "SkiffKubeconfig", Message: "approved by skiff kubeconfig --user " + req.User,
	})
	if _, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("approving certificatesigningrequest/%s: %w", csr.Name, err)
	}
	say("certificatesigningrequest/%s approved; waiting for the cluster's signer", csr.Name)
	cert, err := waitForCertificate(ctx, client, csr.Name)
	if err != nil {
		return nil, err
	}
	return personConfig(admin, req, cert, key)
}

func (req UserRequest) validate() error {
	switch {
	case req.User == "":
		return fmt.Errorf("--user is required: the name the cluster's RoleBindings know the person by")
	case strings.HasPrefix(req.User, "system:"):
		return fmt.Errorf("--user %q: names starting with system: belong to the cluster's own components", req.User)
	case req.Expiration != 0 && req.Expiration < 10*time.Minute:
		return fmt.Errorf("--expiration %s: the signer issues certificates for at least 10m", req.Expiration)
	}
	for _, g := range req.Groups {
		if g == "system:masters" {
			return fmt.Errorf("--group system:masters would bypass every RBAC rule; bind a ClusterRole to the user instead")
		}
	}
	return nil
}

func newKeyAndRequest(req UserRequest) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating a key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: req.User, Organization: req.Groups},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the certificate request: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// waitForCertificate waits for the signer (kube-controller-manager's
// csrsigning controller) to issue the certificate, or to refuse it.
func waitForCertificate(ctx context.Context, client kubernetes.Interface, name string) ([]byte, error) {
	var cert []byte
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		csr, err := client.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("reading certificatesigningrequest/%s: %w", name, err)
		}
		for _, c := range csr.Status.Conditions {
			if c.Type == certificatesv1.CertificateFailed || c.Type == certificatesv1.CertificateDenied {
				return false, fmt.Errorf("certificatesigningrequest/%s: %s: %s", name, c.Reason, c.Message)
			}
		}
		cert = csr.Status.Certificate
		return len(cert) > 0, nil
	})
	if err != nil && len(cert) == 0 {
		if ctx.Err() == nil && wait.Interrupted(err) {
			return nil, fmt.Errorf("certificatesigningrequest/%s was approved but not signed within a minute: is the controller manager running with the cluster's signing key?", name)
		}
		return nil, err
	}
	return cert, nil
}

// personConfig is a kubeconfig for admin's server with the user's
// certificate and key embedded, so it can be handed to the person.
func personConfig(admin *rest.Config, req UserRequest, cert, key []byte) (*clientcmdapi.Config, error) {
	ca := admin.CAData
	if len(ca) == 0 && admin.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(admin.CAFile); err != nil {
			return nil, fmt.Errorf("reading the cluster CA: %w", err)
		}
	}
	cluster := clientcmdapi.NewCluster()
	cluster.Server, cluster.CertificateAuthorityData = admin.Host, ca
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData, user.ClientKeyData = cert, key
	name := req.User + "@" + req.Cluster
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo, kctx.Namespace = req.Cluster, name, cmp.Or(req.Namespace, "default")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[req.Cluster] = cluster
	cfg.AuthInfos[name] = user
	cfg.Contexts[name] = kctx
	cfg.CurrentContext = name
	return cfg, nil
}
