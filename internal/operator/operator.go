// Package operator runs skiff's ML controllers on a controller-runtime
// manager: as a stage of skiff up (CRDs installed at start, no leader
// election) and as `skiff operator` on any cluster. Both run this code.
package operator

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/controllers/experiment"
	"github.com/skiff-dev/skiff/internal/controllers/modelservice"
)

// fieldOwner is the field manager of what skiff applies.
const fieldOwner = "skiff"

// Options configure the controllers and their manager.
type Options struct {
	// InstallCRDs applies the embedded CRDs before the controllers start.
	InstallCRDs bool
	// LeaderElection lets one of several replicas work at a time.
	LeaderElection          bool
	LeaderElectionNamespace string
	// MetricsAddress and HealthAddress serve /metrics and /healthz,
	// /readyz; "0" or "" turns each off.
	MetricsAddress string
	HealthAddress  string
	ModelService   modelservice.Options
	Registry       RegistryOptions
}

// Scheme knows the built-in kinds, CRDs, the ML kinds and the Gateway
// API's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, mlv1.AddToScheme, gwv1.Install} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run runs the controllers until ctx ends; ready is called once they
// watch the cluster (and, with InstallCRDs, the CRDs are served).
func Run(ctx context.Context, cfg *rest.Config, o Options, ready func()) error {
	// client-go's default, 5 requests a second, paces the trials of an
	// Experiment (each takes a handful of writes) far below what the
	// cluster does; a config that sets its own limits keeps them.
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg = rest.CopyConfig(cfg)
		cfg.QPS, cfg.Burst = 100, 200
	}
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	policiesApplied := func(context.Context) error { return nil }
	if o.InstallCRDs {
		c, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		if err := InstallCRDs(ctx, c); err != nil {
			return err
		}
		if err := InstallAdmissionPolicies(ctx, c); err != nil {
			return err
		}
		policiesApplied = func(ctx context.Context) error { return awaitAdmissionPolicies(ctx, c) }
	}
	mgr, err := newManager(ctx, cfg, scheme, o)
	if err != nil {
		return err
	}
	r := &modelservice.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("modelservice-controller"), Options: o.ModelService}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("modelservice controller: %w", err)
	}
	if o.ModelService.GatewayStatsURL() != "" {
		if err := mgr.Add(&modelservice.RequestScaler{Reconciler: r}); err != nil {
			return fmt.Errorf("modelservice request autoscaler: %w", err)
		}
	}
	if err := setupExperiments(mgr, cfg); err != nil {
		return err
	}
	if err := setupRegistry(mgr, o.Registry); err != nil {
		return err
	}
	go func() {
		// Ready once the controllers watch and the API server enforces the
		// policies, so that the first alias move has its user recorded.
		if err := policiesApplied(ctx); err != nil {
			logr.FromContextOrDiscard(ctx).Error(err, "the registry's admission policies are not in force yet")
		}
		if mgr.GetCache().WaitForCacheSync(ctx) {
			ready()
		}
	}()
	return mgr.Start(ctx)
}

func newManager(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, o Options) (ctrl.Manager, error) {
	ctrl.SetLogger(logr.FromContextOrDiscard(ctx))
	// Only predictor pods are watched, not every pod of the cluster.
	predictors, err := labels.NewRequirement(modelservice.LabelModelService, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	// Only the claims Experiments make for their trials' outputs.
	outputs, err := labels.NewRequirement(experiment.LabelExperiment, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "skiff-operator.ml.skiff.dev",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		Metrics:                 metricsserver.Options{BindAddress: orOff(o.MetricsAddress)},
		HealthProbeBindAddress:  orOff(o.HealthAddress),
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:                   {Label: labels.NewSelector().Add(*predictors)},
			&corev1.PersistentVolumeClaim{}: {Label: labels.NewSelector().Add(*outputs)},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	if o.HealthAddress != "" && o.HealthAddress != "0" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// trialPodCache caches the pods that carry the trial label, and runs with
// the manager.
func trialPodCache(mgr ctrl.Manager, cfg *rest.Config) (cache.Cache, error) {
	trials, err := labels.NewRequirement(experiment.LabelTrial, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(), HTTPClient: mgr.GetHTTPClient(),
		ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: {Label: labels.NewSelector().Add(*trials)}}})
	if err != nil {
		return nil, fmt.Errorf("trial pod cache: %w", err)
	}
	return c, mgr.Add(c)
}

func orOff(addr string) string {
	if addr == "" {
		return "0"
	}
	return addr
}

// setupExperiments registers the Experiment and Trial controllers; trial
// logs are read through the API with a clientset of the same config, and
// trial pods have a cache of their own.
func setupExperiments(mgr ctrl.Manager, cfg *rest.Config) error {
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	trialPods, err := trialPodCache(mgr, cfg)
	if err != nil {
		return err
	}
	exp := &experiment.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("experiment-controller")}
	if err := exp.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("experiment controller: %w", err)
	}
	trial := &experiment.TrialReconciler{Client: mgr.GetClient(), Pods: trialPods, Logs: experiment.APILogs{Client: clientset},
		Recorder: mgr.GetEventRecorder("trial-controller")}
	if err := trial.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("trial controller: %w", err)
	}
	return nil
}
