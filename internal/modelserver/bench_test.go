package modelserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkHandlers measures each protocol's handler on one row of the
// 3-feature XGBoost model, in process (no network): the server's own cost
// per request. bench/modelserve.sh measures whole round trips.
func BenchmarkHandlers(b *testing.B) {
	t := &testing.T{}
	ts := newTestServer(t, testModels, Options{DefaultModel: "boost"})
	h := ts.srv.http.Handler
	cases := []struct{ name, path, body string }{
		{"v2", "/v2/models/boost/infer", `{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP64","data":[0.1,0.2,0.3]}]}`},
		{"v1", "/v1/models/boost:predict", `{"instances":[[0.1,0.2,0.3]]}`},
		{"predict", "/predict", `{"a":0.1,"b":0.2,"c":0.3}`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}
