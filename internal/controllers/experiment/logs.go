package experiment

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"

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

// maxLine bounds a log line that is read: a longer one (a progress bar
// redrawn with \r, a dump) is skipped, not kept whole in memory, and the
// lines after it are still read.
const maxLine = 1 << 20

// Lines calls each for every line up to maxLine long, without its end of
// line.
func (s lineStream) Lines(each func(string)) error { return lines(s, each) }

func lines(r io.Reader, each func(string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			line = append(line, chunk...)
			long = len(line) > maxLine
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !long && len(line) > 0 {
			each(strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"))
		}
		line, long = line[:0], false
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
	}
}
