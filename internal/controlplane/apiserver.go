package controlplane

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// admissionPlugins are enabled on top of the upstream defaults
// (NamespaceLifecycle, LimitRanger, ServiceAccount, ResourceQuota, ...).
var admissionPlugins = []string{"NodeRestriction"}

func (c *Config) apiServerArgs() []string {
	p := c.Layout.PKI
	return []string{
		"--bind-address=" + c.BindAddress.String(),
		"--secure-port=" + strconv.Itoa(c.APIPort),
		"--advertise-address=" + c.AdvertiseAddress.String(),
		"--etcd-servers=" + c.etcdClientURL(),
		"--etcd-cafile=" + p.EtcdCACert,
		"--etcd-certfile=" + p.APIServerEtcdCert,
		"--etcd-keyfile=" + p.APIServerEtcdKey,
		"--tls-cert-file=" + p.APIServerCert,
		"--tls-private-key-file=" + p.APIServerKey,
		"--client-ca-file=" + p.CACert,
		"--kubelet-client-certificate=" + p.APIServerKubeletCert,
		"--kubelet-client-key=" + p.APIServerKubeletKey,
		"--kubelet-certificate-authority=" + p.CACert,
		"--requestheader-client-ca-file=" + p.FrontProxyCACert,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--proxy-client-cert-file=" + p.FrontProxyClientCert,
		"--proxy-client-key-file=" + p.FrontProxyClientKey,
		"--service-account-issuer=https://kubernetes.default.svc." + c.ClusterDomain,
		"--service-account-key-file=" + p.ServiceAccountPub,
		"--service-account-signing-key-file=" + p.ServiceAccountKey,
		"--service-cluster-ip-range=" + c.ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=" + strings.Join(admissionPlugins, ","),
		"--allow-privileged=true",
		"--enable-bootstrap-token-auth=true",
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--profiling=false",
	}
}

// runAPIServer runs kube-apiserver until ctx ends. It builds the upstream
// options and calls the exported Run directly rather than the cobra command,
// which would install its own signal handler.
func (c *Config) runAPIServer(ctx context.Context) error {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(c.apiServerArgs()); err != nil {
		return fmt.Errorf("kube-apiserver flags: %w", err)
	}
	if len(c.AlsoListen) > 0 && !c.BindAddress.IsUnspecified() {
		l, err := listenAll(append([]net.IP{c.BindAddress}, c.AlsoListen...), c.APIPort)
		if err != nil {
			return fmt.Errorf("kube-apiserver: %w", err)
		}
		s.SecureServing.Listener = l
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return fmt.Errorf("kube-apiserver feature gates: %w", err)
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	// Logging is configured once per process; the other components share it.
	s.Logs.Verbosity = logsapi.VerbosityLevel(c.Verbosity)
	var logOpts *logsapi.LoggingOptions
	if c.LogOutput != nil {
		logOpts = &logsapi.LoggingOptions{ErrorStream: c.LogOutput, InfoStream: c.LogOutput}
	}
	if err := logsapi.ValidateAndApplyWithOptions(s.Logs, logOpts, featureGate); err != nil {
		return fmt.Errorf("kube-apiserver logging: %w", err)
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	return app.Run(ctx, completed)
}
