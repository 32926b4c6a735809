package modelserver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skiff-dev/skiff/internal/model"
	"github.com/skiff-dev/skiff/internal/modelrepo"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2", s.serverMetadata)
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	mux.HandleFunc("GET /v2/health/ready", s.serverReady)
	for _, prefix := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		mux.HandleFunc("GET "+prefix, s.modelMetadata)
		mux.HandleFunc("GET "+prefix+"/ready", s.modelReady)
		mux.HandleFunc("POST "+prefix+"/infer", s.inference(protoV2REST, s.v2Infer))
	}
	mux.HandleFunc("GET /v1/models/{target}", s.v1Model)
	mux.HandleFunc("POST /v1/models/{target}", s.inference(protoV1REST, s.v1Predict))
	mux.HandleFunc("POST /predict", s.inference(protoPredict, s.simplePredict))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{kind: kindNotFound, msg: "no route " + r.Method + " " + r.URL.Path + ": see /v2, /v1/models/{name}:predict or POST /predict"})
	})
	return mux
}

// record is what a request's metrics are labelled with, filled in once the
// model is known.
type record struct{ model, version string }

func (rec *record) set(v *modelrepo.Version) { rec.model, rec.version = v.Model, v.Name }

type inferenceHandler func(w http.ResponseWriter, r *http.Request, rec *record) error

// inference wraps an inference handler: errors become JSON with the right
// status, and every request is counted and timed.
func (s *Server) inference(protocol string, h inferenceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var rec record
		err := h(w, r, &rec)
		if err != nil {
			writeError(w, err)
		}
		s.metrics.done(rec.model, rec.version, protocol, start, err)
	}
}

// start takes an inference request's model lookup, labels the request's
// metrics with the version found and reads the body.
func (s *Server) start(w http.ResponseWriter, r *http.Request, rec *record) func(*modelrepo.Version, error) (*modelrepo.Version, []byte, error) {
	return func(v *modelrepo.Version, err error) (*modelrepo.Version, []byte, error) {
		if err != nil {
			return nil, nil, err
		}
		rec.set(v)
		body, err := s.readBody(w, r)
		return v, body, err
	}
}

// readBody reads a request body up to the limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &apiError{kind: kindTooLarge, msg: "request body exceeds " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes (serve-model --max-request-bytes)"}
	}
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	return body, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	writeBody(w, status, data)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, classify(err).httpStatus(), map[string]string{"error": err.Error()})
}

// decodeJSON reads a body into v, naming what was wrong with it.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return badRequest("malformed request: field %q should be %s, not a JSON %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
		}
		return badRequest("malformed JSON: %v", err)
	}
	return nil
}

func (s *Server) serverReady(w http.ResponseWriter, _ *http.Request) {
	status := http.StatusOK
	if !s.repo.Ready() {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]bool{"ready": status == http.StatusOK})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	s.writeModelReady(w, r.PathValue("name"), r.PathValue("version"))
}

// writeModelReady answers whether a model (version) serves: 200 or 503, or
// 404 for a model the repository does not hold.
func (s *Server) writeModelReady(w http.ResponseWriter, name, version string) {
	_, err := s.repo.Version(name, version)
	if err != nil && classify(err) != kindNotReady {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"name": name, "ready": err == nil})
}

// v2Request is the protocol's JSON inference request.
type v2Request struct {
	ID         string         `json:"id"`
	Parameters map[string]any `json:"parameters"`
	Inputs     []struct {
		Name       string          `json:"name"`
		Shape      []int64         `json:"shape"`
		Datatype   string          `json:"datatype"`
		Parameters map[string]any  `json:"parameters"`
		Data       json.RawMessage `json:"data"`
	} `json:"inputs"`
	Outputs []struct {
		Name string `json:"name"`
	} `json:"outputs"`
}

func (s *Server) v2Infer(w http.ResponseWriter, r *http.Request, rec *record) error {
	v, body, err := s.start(w, r, rec)(s.repo.Version(r.PathValue("name"), r.PathValue("version")))
	if err != nil {
		return err
	}
	var req v2Request
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	inputs := make([]tensor, len(req.Inputs))
	for i, in := range req.Inputs {
		if in.Name == "" {
			return badRequest("input %d has no name", i)
		}
		if in.Data == nil {
			return badRequest("input %q has no data", in.Name)
		}
		nums, strs, err := parseData(in.Name, in.Data)
		if err != nil {
			return err
		}
		if len(strs) > 0 && in.Datatype != model.BYTES {
			return badRequest("input %q is %s but its data holds strings", in.Name, in.Datatype)
		}
		inputs[i] = tensor{name: in.Name, datatype: in.Datatype, shape: in.Shape, nums: nums, strs: strs}
	}
	var wanted []string
	for _, o := range req.Outputs {
		wanted = append(wanted, o.Name)
	}
	outs, err := predict(v, inputs, wanted)
	if err != nil {
		return err
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"model_name":`...)
	b = appendString(b, v.Model)
	b = append(b, `,"model_version":`...)
	b = appendString(b, v.Name)
	if req.ID != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, req.ID)
	}
	b = append(b, `,"outputs":[`...)
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, o.Name)
		b = append(b, `,"datatype":"`...)
		b = append(b, o.Datatype...)
		b = append(b, `","shape":[`...)
		for j, d := range o.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		b = append(b, `],"data":`...)
		b = appendValues(b, o)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	writeBody(w, http.StatusOK, b)
	return nil
}

// predict assembles the rows, evaluates them and keeps the requested
// outputs (all when none are named).
func predict(v *modelrepo.Version, inputs []tensor, wanted []string) ([]model.Output, error) {
	x, rows, err := assemble(v, inputs)
	if err != nil {
		return nil, err
	}
	if len(wanted) > 0 {
		if err := checkOutputs(v, wanted); err != nil {
			return nil, err
		}
	}
	outs, err := v.Predict(x, rows)
	if err != nil || len(wanted) == 0 {
		return outs, err
	}
	var kept []model.Output
	for _, name := range wanted {
		for _, o := range outs {
			if o.Name == name {
				kept = append(kept, o)
			}
		}
	}
	return kept, nil
}

func checkOutputs(v *modelrepo.Version, wanted []string) error {
	var names []string
	for _, o := range v.Info().Outputs {
		names = append(names, o.Name)
	}
	for _, w := range wanted {
		if !slices.Contains(names, w) {
			return badRequest("model %q has no output %q (outputs: %s)", v.Model, w, strings.Join(names, ", "))
		}
	}
	return nil
}

// jsonKind names a Go type as JSON does, for error messages.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}
