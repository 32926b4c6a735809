package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-dev/skiff/internal/node/podruntime"
)

func TestCheckStreamsAnswersBeforeTheUpgrade(t *testing.T) {
	check := func(ns, pod, container string) error {
		switch pod {
		case "gone":
			return fmt.Errorf("pod %s/%s is %w", ns, pod, podruntime.ErrNoSuchPod)
		case "done":
			return fmt.Errorf("container %q in pod %s/%s is not running: it ended (Completed, exit code 0)", container, ns, pod)
		}
		return nil
	}
	reached := false
	h := checkStreams(check, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	tests := []struct {
		path        string
		wantCode    int
		wantMessage string
		wantReached bool
	}{
		{path: "/exec/default/web/main", wantCode: 200, wantReached: true},
		{path: "/attach/default/done/main", wantCode: 400, wantMessage: `container "main" in pod default/done is not running: it ended (Completed, exit code 0)`},
		{path: "/exec/default/gone/main", wantCode: 404, wantMessage: "pod default/gone is not running on this node"},
		{path: "/containerLogs/default/done/main", wantCode: 200, wantReached: true},
		{path: "/exec/default/done", wantCode: 200, wantReached: true},
	}
	for _, tt := range tests {
		reached = false
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", tt.path, nil))
		if rec.Code != tt.wantCode || reached != tt.wantReached {
			t.Errorf("%s: code %d, reached %v; want %d, %v", tt.path, rec.Code, reached, tt.wantCode, tt.wantReached)
		}
		if tt.wantMessage == "" {
			continue
		}
		var st metav1.Status
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatalf("%s: body %q: %v", tt.path, rec.Body, err)
		}
		if diff := cmp.Diff(tt.wantMessage, st.Message); diff != "" {
			t.Errorf("%s: message (-want +got):\n%s", tt.path, diff)
		}
	}
}
