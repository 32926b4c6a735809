package operator

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/skiff-dev/skiff/internal/artifact"
	"github.com/skiff-dev/skiff/internal/controllers/registry"
)

// RegistryOptions say where the model registry keeps its copies of model
// files: a folder (skiff up's data dir, or a PersistentVolumeClaim mounted
// into the operator), or S3-compatible object storage.
type RegistryOptions struct {
	// Dir is a folder the operator writes.
	Dir string
	// DirURI is what serving pods mount Dir as: file://<Dir> on skiff's
	// node (the default), pvc://<claim>[/<path>] for a claim.
	DirURI string
	// S3 is s3://<bucket>[/<prefix>], used instead of Dir.
	S3 string
	// S3Config reaches the object storage, for the store and for s3://
	// sources (set the endpoint alone to read s3:// sources).
	S3Config artifact.S3Config
	// ClaimsDir holds claims mounted into the operator as
	// <namespace>/<claim>, for pvc:// sources (an Experiment's outputs)
	// whose volumes are not folders on the operator's host.
	ClaimsDir string
}

// configured says whether the registry has a store; without one its
// controllers do not run.
func (o RegistryOptions) configured() bool { return o.Dir != "" || o.S3 != "" }

// store opens the store and the sources the options name.
func (o RegistryOptions) store() (artifact.Store, artifact.Sources, string, error) {
	var sources artifact.Sources
	if o.S3Config.Endpoint != "" {
		client, err := artifact.NewS3Client(o.S3Config)
		if err != nil {
			return nil, sources, "", fmt.Errorf("registry: %w", err)
		}
		sources.S3 = client
	}
	switch {
	case o.Dir != "" && o.S3 != "":
		return nil, sources, "", fmt.Errorf("registry: give a folder or an S3 bucket, not both")
	case o.S3 != "":
		if sources.S3 == nil {
			return nil, sources, "", fmt.Errorf("registry %s: the S3 endpoint is not set (--registry-s3-endpoint host:port)", o.S3)
		}
		store, err := artifact.NewS3(o.S3Config, o.S3)
		if err != nil {
			return nil, sources, "", fmt.Errorf("registry: %w", err)
		}
		return store, sources, os.TempDir(), nil
	default:
		if o.DirURI != "" && !strings.HasPrefix(o.DirURI, "pvc://") && !strings.HasPrefix(o.DirURI, "file:///") {
			return nil, sources, "", fmt.Errorf("registry folder URI %q: want pvc://<claim>[/<path>] or file:///<path>", o.DirURI)
		}
		store, err := artifact.NewDir(o.Dir, o.DirURI)
		if err != nil {
			return nil, sources, "", err
		}
		// Sources are checked on the store's disk, not in a small /tmp.
		return store, sources, filepath.Join(store.Root, "tmp"), nil
	}
}

// setupRegistry registers the Model and ModelVersion controllers.
func setupRegistry(mgr ctrl.Manager, o RegistryOptions) error {
	if !o.configured() {
		ctrl.Log.Info("the model registry is off: no --registry-dir or --registry-s3")
		return nil
	}
	store, sources, scratch, err := o.store()
	if err != nil {
		return err
	}
	models := &registry.ModelReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("model-controller")}
	if err := models.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("model controller: %w", err)
	}
	versions := &registry.VersionReconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("modelversion-controller"),
		Options: registry.Options{Store: store, Sources: sources, ScratchDir: scratch, ClaimsDir: o.ClaimsDir}}
	if err := versions.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("modelversion controller: %w", err)
	}
	return nil
}
