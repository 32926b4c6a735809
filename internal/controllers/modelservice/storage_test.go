package modelservice

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	mlv1 "github.com/skiff-dev/skiff/apis/ml/v1alpha1"
)

func TestModelStorage(t *testing.T) {
	const sum = "sha256:" + "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"
	s3 := S3Access{Endpoint: "10.42.0.1:9000", Insecure: true, CredentialsSecret: DefaultS3CredentialsSecret}
	tests := []struct {
		name      string
		uri       string
		served    *mlv1.ServedModelVersion
		cacheDir  string
		wantMount corev1.VolumeMount
		wantPath  string
		wantArgs  string // the init container's, "" for none
	}{
		{
			name: "a file on the node is mounted, nothing fetched", uri: "file:///models/m.json", cacheDir: "/cache",
			wantMount: corev1.VolumeMount{Name: "model", MountPath: "/mnt/models/m.json", ReadOnly: true}, wantPath: "/mnt/models/m.json",
		},
		{
			name: "a registry version in S3 goes through the node's cache", uri: "s3://models/sha256/ab12/model.json",
			served: &mlv1.ServedModelVersion{Model: "m", Version: 1, Checksum: sum}, cacheDir: "/cache",
			wantMount: corev1.VolumeMount{Name: cacheVolume, MountPath: "/mnt/models", SubPath: "sha256/" + strings.TrimPrefix(sum, "sha256:"), ReadOnly: true},
			wantPath:  "/mnt/models/model.json",
			wantArgs:  "fetch-model s3://models/sha256/ab12/model.json --cache /var/cache/skiff/models --checksum " + sum + " --s3-endpoint 10.42.0.1:9000 --s3-insecure",
		},
		{
			name: "an s3:// file of no known checksum is fetched into the pod", uri: "s3://models/housing/", cacheDir: "/cache",
			wantMount: corev1.VolumeMount{Name: "model", MountPath: "/mnt/models", ReadOnly: true}, wantPath: "/mnt/models/model.json",
			wantArgs: "fetch-model s3://models/housing/ --to /mnt/models --s3-endpoint 10.42.0.1:9000 --s3-insecure",
		},
		{
			name: "without a cache each pod fetches", uri: "s3://models/k.json", served: &mlv1.ServedModelVersion{Checksum: sum},
			wantMount: corev1.VolumeMount{Name: "model", MountPath: "/mnt/models", ReadOnly: true}, wantPath: "/mnt/models/model.json",
			wantArgs: "fetch-model s3://models/k.json --to /mnt/models --s3-endpoint 10.42.0.1:9000 --s3-insecure",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Reconciler{Options: Options{ModelServerImage: "skiff", ModelCacheDir: tt.cacheDir, S3: s3}}
			st := r.modelStorage(tt.uri, tt.served)
			if diff := cmp.Diff(tt.wantMount, st.mount); diff != "" {
				t.Errorf("server mount (-want +got):\n%s", diff)
			}
			if st.path != tt.wantPath {
				t.Errorf("model path %s, want %s", st.path, tt.wantPath)
			}
			var args string
			if len(st.init) > 0 {
				args = strings.Join(st.init[0].Args, " ")
				if env := st.init[0].Env; len(env) != 2 || env[0].ValueFrom.SecretKeyRef.Name != DefaultS3CredentialsSecret {
					t.Errorf("init env %+v, want the keys from %s", env, DefaultS3CredentialsSecret)
				}
			}
			if args != tt.wantArgs {
				t.Errorf("init args %q, want %q", args, tt.wantArgs)
			}
			found := false
			for _, v := range st.volumes {
				found = found || v.Name == st.mount.Name
			}
			if !found {
				t.Errorf("volume %s is mounted but not in the pod (%+v)", st.mount.Name, st.volumes)
			}
		})
	}
}
