package node

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/node/podruntime"
)

// checkStreams answers exec and attach requests for a container that is
// not running before their stream is upgraded, as the kubelet does: a 400
// (404 for a pod not on this node) with the reason, which kubectl prints
// ("unable to upgrade connection: container ... is not running: it
// ended ..."). After an upgrade an error can only be an InternalError.
func checkStreams(check func(namespace, pod, container string) error, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ns, pod, container, ok := streamTarget(r.URL.Path)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		err := check(ns, pod, container)
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		code, reason := http.StatusBadRequest, metav1.StatusReasonBadRequest
		if errors.Is(err, podruntime.ErrNoSuchPod) {
			code, reason = http.StatusNotFound, metav1.StatusReasonNotFound
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Message: err.Error(), Reason: reason, Code: int32(code),
		})
	})
}

// streamTarget parses /exec/<ns>/<pod>/<container> and
// /attach/<ns>/<pod>/<container>.
func streamTarget(path string) (namespace, pod, container string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) != 4 || (parts[0] != "exec" && parts[0] != "attach") {
		return "", "", "", false
	}
	return parts[1], parts[2], parts[3], true
}
