package experiment

import (
	"bufio"
	"context"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// APILogs reads containers' logs through the API server (pods/log), as
// kubectl logs does: it works on any cluster, with nothing in the pod.
type APILogs struct {
	Client kubernetes.Interface
}

// Open streams a container's log from its start.
func (l APILogs) Open(ctx context.Context, namespace, pod, container string, follow bool) (LogStream, error) {
	rc, err := l.Client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: follow}).Stream(ctx)
	if err != nil {
		return nil, err
	}
	return lineStream{rc}, nil
}

type lineStream struct{ io.ReadCloser }

// Lines calls each for every line; a line longer than 1 MiB ends it.
func (s lineStream) Lines(each func(string)) error {
	sc := bufio.NewScanner(s)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		each(sc.Text())
	}
	return sc.Err()
}
