package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	corev1listers "k8s.io/client-go/listers/core/v1"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func listers(t *testing.T, objs ...any) (corev1listers.ConfigMapLister, corev1listers.SecretLister) {
	t.Helper()
	cms := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	secrets := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, o := range objs {
		var err error
		switch o.(type) {
		case *corev1.ConfigMap:
			err = cms.Add(o)
		case *corev1.Secret:
			err = secrets.Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return corev1listers.NewConfigMapLister(cms), corev1listers.NewSecretLister(secrets)
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVolumesPrepare(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ml"}, Data: map[string]string{"a": "1", "b": "2"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ml"}, Data: map[string][]byte{"token": []byte("x")}}
	cmLister, secretLister := listers(t, cm, secret)
	v := &volumes{configMaps: cmLister, secrets: secretLister, memoryRoot: t.TempDir()}
	optional := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ml", UID: "u1", Labels: map[string]string{"b": "2", "a": "1"}},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "all", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			{Name: "some", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items: []corev1.KeyToPath{{Key: "b", Path: "sub/b.txt"}}}}},
			{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
			{Name: "maybe", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent", Optional: &optional}}},
			{Name: "labels", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		}},
	}
	dir := t.TempDir()
	paths, err := v.prepare(context.Background(), pod, dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		volume string
		want   map[string]string
	}{
		{"all", map[string]string{"a": "1", "b": "2"}},
		{"some", map[string]string{"sub/b.txt": "2"}},
		{"secret", map[string]string{"token": "x"}},
		{"maybe", map[string]string{}},
		{"labels", map[string]string{"labels": "a=\"1\"\nb=\"2\"", "name": "p"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, readTree(t, paths[tt.volume])); diff != "" {
			t.Errorf("volume %s (-want +got):\n%s", tt.volume, diff)
		}
	}
}

func TestVolumesMissingConfigMapIsAnError(t *testing.T) {
	cmLister, secretLister := listers(t)
	v := &volumes{configMaps: cmLister, secrets: secretLister}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ml"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "later"}}}},
	}}}
	_, err := v.prepare(context.Background(), pod, t.TempDir())
	if err == nil || err.Error() != `volume "cfg": configmap "later" not found in namespace ml` {
		t.Errorf("prepare = %v", err)
	}
}

func TestServiceAccountTokensAreReusedUntilNearExpiry(t *testing.T) {
	client := fake.NewClientset()
	issued := 0
	client.PrependReactor("create", "serviceaccounts", func(action clienttesting.Action) (bool, runtime.Object, error) {
		issued++
		life := time.Hour
		if issued > 1 {
			life = time.Millisecond // the second token is due for refresh at once
		}
		return true, &authenticationv1.TokenRequest{Status: authenticationv1.TokenRequestStatus{
			Token: fmt.Sprintf("token-%d", issued), ExpirationTimestamp: metav1.NewTime(time.Now().Add(life)),
		}}, nil
	})
	v := &volumes{client: client}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"}}
	proj := &corev1.ServiceAccountTokenProjection{Path: "token"}
	for i, want := range []string{"token-1", "token-1"} {
		got, err := v.token(context.Background(), pod, proj)
		if err != nil || got != want {
			t.Fatalf("call %d: %q, %v; want %q", i, got, err, want)
		}
	}
	// Another audience is another token.
	if got, _ := v.token(context.Background(), pod, &corev1.ServiceAccountTokenProjection{Path: "t", Audience: "vault"}); got != "token-2" {
		t.Errorf("audience vault got %q", got)
	}
	time.Sleep(5 * time.Millisecond)
	if got, _ := v.token(context.Background(), pod, &corev1.ServiceAccountTokenProjection{Path: "t", Audience: "vault"}); got != "token-3" {
		t.Errorf("a token past 80%% of its life was reused: %q", got)
	}
}

func TestMemoryVolumeIsASizedTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	limit := resource.MustParse("1Mi")
	for range 2 { // refreshes prepare volumes again: one mount only
		if err := memoryVolume(dir, &limit); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	if err != nil || len(mounts) != 1 || mounts[0].FSType != "tmpfs" {
		t.Fatalf("mounts at %s: %v, %v", dir, mounts, err)
	}
	err = os.WriteFile(filepath.Join(dir, "big"), make([]byte, 2<<20), 0o644)
	if !errors.Is(err, unix.ENOSPC) {
		t.Errorf("writing 2 MiB into a 1 MiB memory volume: %v, want ENOSPC", err)
	}
}

func TestRefreshRemovesWhatTheObjectNoLongerHas(t *testing.T) {
	dir := t.TempDir()
	first := map[string]file{"threshold": {data: []byte("0.75")}, "nested/a": {data: []byte("a")}}
	if err := writeFiles(dir, first, nil); err != nil {
		t.Fatal(err)
	}
	second := map[string]file{"threshold": {data: []byte("0.8")}}
	if err := writeFiles(dir, second, nil); err != nil {
		t.Fatal(err)
	}
	var left []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, path)
		if rel != "." {
			left = append(left, rel)
		}
		return nil
	})
	if diff := cmp.Diff([]string{"threshold"}, left); diff != "" {
		t.Errorf("volume contents after the refresh (-want +got):\n%s", diff)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "threshold")); string(data) != "0.8" {
		t.Errorf("threshold = %q", data)
	}
}

func TestVolumesWaitForListers(t *testing.T) {
	t.Parallel()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ml"}, Data: map[string]string{"a": "1"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ml", UID: "u1"},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}},
	}
	v := newVolumes(nil, t.TempDir(), nil)
	dir := t.TempDir()
	if _, err := v.prepare(context.Background(), pod, dir); !errors.Is(err, errNoListers) {
		t.Errorf("prepare before useListers: %v, want %v", err, errNoListers)
	}
	v.useListers(listers(t, cm))
	paths, err := v.prepare(context.Background(), pod, dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1"}, readTree(t, paths["c"])); diff != "" {
		t.Errorf("volume (-want +got):\n%s", diff)
	}
}

// Volume files get exactly the mode the pod asks for: not narrowed by
// skiff's umask, not kept from the file a refresh replaces.
func TestWriteFileSetsTheMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// old, when set, is the mode of a file already there.
		old  os.FileMode
		mode os.FileMode
	}{
		{name: "new file, group and world writable", mode: 0o666},
		{name: "new secret file", mode: 0o400},
		{name: "refresh narrows the mode", old: 0o644, mode: 0o400},
		{name: "refresh widens the mode", old: 0o400, mode: 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "sub", "file")
			if tt.old != 0 {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte("old"), tt.old); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeFile(path, []byte("new"), tt.mode); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]any{"new", tt.mode}, []any{string(data), fi.Mode().Perm()}); diff != "" {
				t.Errorf("content and mode (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEmptyDirIsWritableByAnyUser: created 0777 whatever skiff's umask, so
// that non-root containers can write.
func TestEmptyDirIsWritableByAnyUser(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "scratch")
	if err := emptyDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o777 {
		t.Errorf("emptyDir mode %v, want 0777", got)
	}
}

// TestNestedItemFoldersAreTraversable: folders of nested configMap items
// must let a non-root container reach the files.
func TestNestedItemFoldersAreTraversable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := writeFile(filepath.Join(dir, "a", "b", "c.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"a", "a/b"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o755 {
			t.Errorf("%s: mode %v, want 0755", sub, got)
		}
	}
}
