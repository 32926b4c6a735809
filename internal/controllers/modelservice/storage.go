package modelservice

import (
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
	"github.com/skiff-dev/skiff/internal/artifact"
)

// Object storage, for predictors whose model is in S3.
const (
	storageInitializer = "storage-initializer" // KServe's name for it
	cacheVolume        = "model-cache"
	cacheMount         = "/var/cache/skiff/models"
	// DefaultModelCacheDir is the nodes' folder of model files by sha256.
	DefaultModelCacheDir = "/var/cache/skiff/models"
	// DefaultS3CredentialsSecret holds AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY in a ModelService's namespace.
	DefaultS3CredentialsSecret = "skiff-s3-credentials"
)

// S3Access is how serving pods reach models in S3-compatible storage.
type S3Access struct {
	Endpoint string
	Insecure bool
	Region   string
	// CredentialsSecret, in the ModelService's namespace, holds the keys
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); without it the bucket
	// is read anonymously.
	CredentialsSecret string
}

// storage is how a predictor pod gets its model: volumes, the model
// server's read-only mount and the model's path in it, and for object
// storage the init container that fetches the file first.
type storage struct {
	volumes []corev1.Volume
	init    []corev1.Container
	mount   corev1.VolumeMount
	path    string
}

// modelStorage is the storage of uri. A registry version in S3 (its
// checksum known) goes into the node's cache once and is mounted from
// there, so a second pod on the node, or a scale from zero, copies
// nothing; any other s3:// file is fetched into the pod's own folder.
func (r *Reconciler) modelStorage(uri string, served *mlv1.ServedModelVersion) storage {
	if !strings.HasPrefix(uri, "s3://") {
		vol, path := modelVolume(uri)
		return storage{volumes: []corev1.Volume{vol}, path: path,
			mount: corev1.VolumeMount{Name: vol.Name, MountPath: mountPoint(vol, path), ReadOnly: true}}
	}
	s := storage{path: filepath.Join(modelMount, artifact.FileName)}
	args := []string{"fetch-model", uri}
	var fetchMount corev1.VolumeMount
	digest, err := artifact.ParseChecksum(checksumOf(served))
	if dir := r.Options.ModelCacheDir; dir != "" && err == nil {
		s.volumes = []corev1.Volume{{Name: cacheVolume, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectoryOrCreate)}}}}
		s.mount = corev1.VolumeMount{Name: cacheVolume, MountPath: modelMount, SubPath: artifact.CachePath(digest), ReadOnly: true}
		fetchMount = corev1.VolumeMount{Name: cacheVolume, MountPath: cacheMount}
		args = append(args, "--cache", cacheMount, "--checksum", digest.Checksum())
	} else {
		s.volumes = []corev1.Volume{{Name: "model", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		s.mount = corev1.VolumeMount{Name: "model", MountPath: modelMount, ReadOnly: true}
		fetchMount = corev1.VolumeMount{Name: "model", MountPath: modelMount}
		args = append(args, "--to", modelMount)
	}
	s3 := r.Options.S3
	if s3.Endpoint != "" {
		args = append(args, "--s3-endpoint", s3.Endpoint)
	}
	if s3.Insecure {
		args = append(args, "--s3-insecure")
	}
	if s3.Region != "" {
		args = append(args, "--s3-region", s3.Region)
	}
	s.init = []corev1.Container{{
		Name: storageInitializer, Image: r.Options.ModelServerImage, Args: args,
		Env:          credentialsEnv(s3.CredentialsSecret),
		VolumeMounts: []corev1.VolumeMount{fetchMount},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}}
	return s
}

func checksumOf(v *mlv1.ServedModelVersion) string {
	if v == nil {
		return ""
	}
	return v.Checksum
}

// credentialsEnv reads the keys from the Secret, which may be absent (a
// public bucket).
func credentialsEnv(secret string) []corev1.EnvVar {
	if secret == "" {
		return nil
	}
	var env []corev1.EnvVar
	for _, key := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		env = append(env, corev1.EnvVar{Name: key, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key, Optional: ptr.To(true)}}})
	}
	return env
}
