package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"

	"github.com/skiff-dev/skiff/internal/atomicfile"
)

// volumes materialises pod volumes on the host for the sandbox to mount:
// emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI and projected (with
// service-account tokens from the TokenRequest API).
type volumes struct {
	client kubernetes.Interface
	// configMaps and secrets are virtual-kubelet's informer caches (see
	// useListers); nil until then.
	configMaps corev1listers.ConfigMapLister
	secrets    corev1listers.SecretLister
	// memoryRoot holds emptyDir volumes with medium Memory (a tmpfs).
	memoryRoot string
	// allocatable is what unset limits read as through the downward API.
	allocatable corev1.ResourceList

	mu sync.Mutex
	// tokens caches service-account tokens by pod UID, audience and
	// expiry: volume refreshes reuse a token until 80% of its life has
	// passed, as the kubelet's token manager does.
	tokens map[string]cachedToken
}

type cachedToken struct {
	token   string
	refresh time.Time
}

const defaultFileMode = 0o644

// newVolumes is the node's volume preparer; it reads ConfigMaps and
// Secrets once useListers has given it the caches.
func newVolumes(client kubernetes.Interface, memoryRoot string, allocatable corev1.ResourceList) *volumes {
	return &volumes{client: client, memoryRoot: memoryRoot, allocatable: allocatable}
}

// useListers gives v the ConfigMap and Secret caches of virtual-kubelet's
// informers. The pod runtime takes v (its prepare) when it is built, but
// the caches exist only inside nodeutil.NewNode, which hands them to the
// provider factory; the factory calls this. That is before any pod can be
// created: NewNode calls the factory before it returns, and pods come
// only once the node runs. The node does not build informers of its own
// for v instead: virtual-kubelet starts its cluster-wide ConfigMap and
// Secret watches in any case (for env), so the node would hold two
// copies of every Secret.
func (v *volumes) useListers(configMaps corev1listers.ConfigMapLister, secrets corev1listers.SecretLister) {
	v.configMaps, v.secrets = configMaps, secrets
}

// errNoListers means a ConfigMap or Secret was read before useListers.
var errNoListers = errors.New("the node's ConfigMap and Secret caches are not set up yet")

// prepare implements podruntime.VolumePreparer.
func (v *volumes) prepare(ctx context.Context, pod *corev1.Pod, dir string) (map[string]string, error) {
	paths := map[string]string{}
	for _, vol := range pod.Spec.Volumes {
		path, err := v.one(ctx, pod, dir, vol)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", vol.Name, err)
		}
		paths[vol.Name] = path
	}
	return paths, nil
}

func (v *volumes) one(ctx context.Context, pod *corev1.Pod, dir string, vol corev1.Volume) (string, error) {
	own := filepath.Join(dir, vol.Name)
	switch src := vol.VolumeSource; {
	case src.EmptyDir != nil:
		if src.EmptyDir.Medium == corev1.StorageMediumMemory {
			own = filepath.Join(v.memoryRoot, string(pod.UID), vol.Name)
			return own, memoryVolume(own, src.EmptyDir.SizeLimit)
		}
		return own, emptyDir(own)
	case src.HostPath != nil:
		return hostPath(src.HostPath)
	case src.PersistentVolumeClaim != nil:
		return v.claimFolder(ctx, pod.Namespace, src.PersistentVolumeClaim.ClaimName)
	case src.ConfigMap != nil:
		files, err := v.configMapFiles(pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
		if err != nil {
			return "", err
		}
		return own, writeFiles(own, files, src.ConfigMap.DefaultMode)
	case src.Secret != nil:
		files, err := v.secretFiles(pod.Namespace, src.Secret.SecretName, src.Secret.Items, src.Secret.Optional)
		if err != nil {
			return "", err
		}
		return own, writeFiles(own, files, src.Secret.DefaultMode)
	case src.DownwardAPI != nil:
		files, err := v.downwardFiles(pod, src.DownwardAPI.Items)
		if err != nil {
			return "", err
		}
		return own, writeFiles(own, files, src.DownwardAPI.DefaultMode)
	case src.Projected != nil:
		files := map[string]file{}
		for _, s := range src.Projected.Sources {
			part, err := v.projection(ctx, pod, s)
			if err != nil {
				return "", err
			}
			for k, f := range part {
				files[k] = f
			}
		}
		return own, writeFiles(own, files, src.Projected.DefaultMode)
	}
	return "", errors.New("this volume type is not supported by the skiff node (supported: emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI, projected)")
}

// memoryVolume mounts a tmpfs at dir, as the kubelet does for an emptyDir
// with medium Memory: sizeLimit caps it (writes beyond fail with ENOSPC);
// without one, tmpfs's default of half the RAM applies.
func memoryVolume(dir string, sizeLimit *resource.Quantity) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if mounted, err := mountinfo.Mounted(dir); err != nil || mounted {
		return err // prepared already (volumes are refreshed)
	}
	opts := "mode=0777"
	if sizeLimit != nil && !sizeLimit.IsZero() {
		opts += ",size=" + strconv.FormatInt(sizeLimit.Value(), 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting a tmpfs for the memory volume: %w", err)
	}
	return nil
}

// file is one file of a volume.
type file struct {
	data []byte
	mode *int32
}

func writeFiles(dir string, files map[string]file, defaultMode *int32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, f := range files {
		if filepath.IsAbs(name) || strings.Contains(name, "..") {
			return fmt.Errorf("item path %q must be relative and must not contain '..'", name)
		}
		mode := os.FileMode(defaultFileMode)
		if defaultMode != nil {
			mode = os.FileMode(*defaultMode)
		}
		if f.mode != nil {
			mode = os.FileMode(*f.mode)
		}
		path := filepath.Join(dir, name)
		// Refreshes rewrite only what changed: each write is a synced
		// rename, and most refreshes change nothing.
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.data) {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == mode.Perm() {
				continue
			}
		}
		if err := writeFile(path, f.data, mode); err != nil {
			return err
		}
	}
	return removeStale(dir, files)
}

// writeFile replaces path with data, atomically (a container reading the
// volume sees the old file or the new one) and with exactly mode: the
// volume's modes are the pod's to set. Folders of nested items are 0755,
// so that a container running as any user can reach the files its modes
// let it read.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	return atomicfile.Write(path, data, mode)
}

// removeStale deletes what a refresh no longer lists (a key removed from
// its ConfigMap, say), then the directories left empty: the volume's
// directory is skiff's alone.
func removeStale(dir string, files map[string]file) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
			return nil
		}
		if _, keep := files[filepath.ToSlash(rel)]; !keep {
			return os.Remove(path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing stale files of %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- { // deepest first
		_ = os.Remove(dirs[i]) // fails, as it should, unless empty
	}
	return nil
}

// select picks items from data (all keys when items is empty).
func selectItems(kind, name string, data map[string][]byte, items []corev1.KeyToPath) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, d := range data {
			out[k] = file{data: d}
		}
		return out, nil
	}
	for _, it := range items {
		d, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("%s %q has no key %q", kind, name, it.Key)
		}
		out[it.Path] = file{data: d, mode: it.Mode}
	}
	return out, nil
}

func (v *volumes) configMapFiles(ns, name string, items []corev1.KeyToPath, optional *bool) (map[string]file, error) {
	if v.configMaps == nil {
		return nil, errNoListers
	}
	cm, err := v.configMaps.ConfigMaps(ns).Get(name)
	if err != nil {
		if optional != nil && *optional {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("configmap %q not found in namespace %s", name, ns)
	}
	data := map[string][]byte{}
	for k, s := range cm.Data {
		data[k] = []byte(s)
	}
	for k, b := range cm.BinaryData {
		data[k] = b
	}
	return selectItems("configmap", name, data, items)
}

func (v *volumes) secretFiles(ns, name string, items []corev1.KeyToPath, optional *bool) (map[string]file, error) {
	if v.secrets == nil {
		return nil, errNoListers
	}
	s, err := v.secrets.Secrets(ns).Get(name)
	if err != nil {
		if optional != nil && *optional {
			return map[string]file{}, nil
		}
		return nil, fmt.Errorf("secret %q not found in namespace %s", name, ns)
	}
	return selectItems("secret", name, s.Data, items)
}

func (v *volumes) projection(ctx context.Context, pod *corev1.Pod, s corev1.VolumeProjection) (map[string]file, error) {
	switch {
	case s.ConfigMap != nil:
		return v.configMapFiles(pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional)
	case s.Secret != nil:
		return v.secretFiles(pod.Namespace, s.Secret.Name, s.Secret.Items, s.Secret.Optional)
	case s.DownwardAPI != nil:
		return v.downwardFiles(pod, s.DownwardAPI.Items)
	case s.ServiceAccountToken != nil:
		tok, err := v.token(ctx, pod, s.ServiceAccountToken)
		if err != nil {
			return nil, err
		}
		return map[string]file{s.ServiceAccountToken.Path: {data: []byte(tok)}}, nil
	}
	return nil, errors.New("unsupported projected source")
}

// token asks the API for a token bound to the pod, as the kubelet does.
func (v *volumes) token(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: p.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	key := fmt.Sprintf("%s/%s/%s/%d", pod.UID, sa, p.Audience, ptrValue(p.ExpirationSeconds))
	v.mu.Lock()
	cached, ok := v.tokens[key]
	v.mu.Unlock()
	if ok && time.Now().Before(cached.refresh) {
		return cached.token, nil
	}
	resp, err := v.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	issued := time.Now()
	life := resp.Status.ExpirationTimestamp.Sub(issued)
	v.mu.Lock()
	if v.tokens == nil {
		v.tokens = map[string]cachedToken{}
	}
	// Entries past their refresh time (of pods long gone, too) go.
	for k, c := range v.tokens {
		if issued.After(c.refresh) {
			delete(v.tokens, k)
		}
	}
	v.tokens[key] = cachedToken{token: resp.Status.Token, refresh: issued.Add(life * 8 / 10)}
	v.mu.Unlock()
	return resp.Status.Token, nil
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (v *volumes) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string]file, error) {
	out := map[string]file{}
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil:
			val, err = fieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			val, err = resourceFieldValue(pod, "", it.ResourceFieldRef, v.allocatable)
		default:
			err = fmt.Errorf("downwardAPI item %q sets neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return nil, err
		}
		out[it.Path] = file{data: []byte(val), mode: it.Mode}
	}
	return out, nil
}

func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	}
	return "", fmt.Errorf("downwardAPI field %q is not supported", path)
}

// formatMap writes key="value" lines, sorted, as the kubelet does.
func formatMap(m map[string]string) string {
	lines := make([]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func hostPath(hp *corev1.HostPathVolumeSource) (string, error) {
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	fi, err := os.Stat(hp.Path)
	switch t {
	case corev1.HostPathDirectoryOrCreate:
		if os.IsNotExist(err) {
			return hp.Path, os.MkdirAll(hp.Path, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(hp.Path), 0o755); err != nil {
				return "", err
			}
			f, err := os.OpenFile(hp.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", err
			}
			return hp.Path, f.Close()
		}
	case corev1.HostPathDirectory:
		if err != nil || !fi.IsDir() {
			return "", fmt.Errorf("hostPath %s is not a directory", hp.Path)
		}
	case corev1.HostPathFile:
		if err != nil || !fi.Mode().IsRegular() {
			return "", fmt.Errorf("hostPath %s is not a file", hp.Path)
		}
	}
	if err != nil && t != corev1.HostPathUnset {
		return "", fmt.Errorf("hostPath %s: %w", hp.Path, err)
	}
	if err != nil {
		// Unset type: the kubelet mounts whatever is there; a missing
		// path is created as a directory by the runtime.
		return hp.Path, os.MkdirAll(hp.Path, 0o755)
	}
	return hp.Path, nil
}

// emptyDir makes a disk-backed emptyDir: 0777 as the kubelet makes it (not
// cut by skiff's umask), so containers running as any user can write.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	return os.Chmod(dir, 0o777)
}
