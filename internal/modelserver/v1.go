package modelserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/skiff-dev/skiff/internal/modelrepo"
)

// KServe's v1 protocol: GET /v1/models/{name} and
// POST /v1/models/{name}:predict with {"instances": [...]}, each instance a
// row of numbers or an object of named features.
func (s *Server) v1Model(w http.ResponseWriter, r *http.Request) {
	s.writeModelReady(w, r.PathValue("target"), "")
}

func (s *Server) v1Predict(w http.ResponseWriter, r *http.Request, rec *record) error {
	name, verb, _ := strings.Cut(r.PathValue("target"), ":")
	if verb != "predict" {
		return &apiError{kind: kindNotFound, msg: "POST /v1/models/" + r.PathValue("target") + ": use /v1/models/{name}:predict"}
	}
	v, body, err := s.start(w, r, rec)(s.repo.Version(name, ""))
	if err != nil {
		return err
	}
	var req struct {
		Instances []json.RawMessage `json:"instances"`
	}
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if len(req.Instances) == 0 {
		return badRequest(`the request has no instances: send {"instances": [[...%d numbers...]]}%s`, v.Info().Features, objectHint(v))
	}
	x := make([]float64, 0, len(req.Instances)*v.Info().Features)
	for i, inst := range req.Instances {
		row, err := instanceRow(v, inst)
		if err != nil {
			return badRequest("instance %d: %v", i, err)
		}
		x = append(x, row...)
	}
	outs, err := v.Predict(x, len(req.Instances))
	if err != nil {
		return err
	}
	b := append([]byte(`{"predictions":`), appendRows(nil, outs[0])...)
	writeBody(w, http.StatusOK, append(b, '}'))
	return nil
}

func objectHint(v *modelrepo.Version) string {
	if len(v.Features) == 0 {
		return ""
	}
	return " or objects of the features " + strings.Join(v.Features, ", ")
}

// instanceRow reads one row: an array of numbers or an object of features.
func instanceRow(v *modelrepo.Version, raw json.RawMessage) ([]float64, error) {
	raw = bytes.TrimSpace(raw)
	features := v.Info().Features
	if len(raw) > 0 && raw[0] == '{' {
		return objectRow(v, raw)
	}
	nums, strs, err := parseData("instance", raw)
	if err != nil {
		return nil, err
	}
	if len(strs) > 0 {
		return nil, badRequest("values must be numbers, not strings")
	}
	if len(nums) != features {
		return nil, badRequest("%d values, but the model takes %d features", len(nums), features)
	}
	return nums, nil
}

// objectRow reads {"feature": value, ...}; every feature must be there and
// nothing else, so that a misspelt name is not silently ignored.
func objectRow(v *modelrepo.Version, raw []byte) ([]float64, error) {
	if len(v.Features) == 0 {
		return nil, badRequest("model %q has no feature names (add features to its %s); send an array of %d numbers", v.Model, modelrepo.ConfigFile, v.Info().Features)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, badRequest("malformed JSON object: %v", err)
	}
	row := make([]float64, len(v.Features))
	var unknown, missing []string
	for name, val := range obj {
		i, ok := v.FeatureIndex(name)
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		nums, strs, err := parseData(name, append(append([]byte{'['}, val...), ']'))
		if err != nil || len(strs) > 0 || len(nums) != 1 {
			return nil, badRequest("feature %q must be a number (or null for a missing value), not %s", name, val)
		}
		row[i] = nums[0]
	}
	for _, name := range v.Features {
		if _, ok := obj[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(unknown)
	switch {
	case len(unknown) > 0:
		return nil, badRequest("unknown features: %s (model %q takes %s)", strings.Join(unknown, ", "), v.Model, strings.Join(v.Features, ", "))
	case len(missing) > 0:
		return nil, badRequest("missing features: %s", strings.Join(missing, ", "))
	}
	return row, nil
}

// simplePredict is the seeds' API: POST /predict with a JSON object of
// named features answers {"prediction": value}; a list of objects answers
// {"predictions": [...]}.
func (s *Server) simplePredict(w http.ResponseWriter, r *http.Request, rec *record) error {
	v, body, err := s.start(w, r, rec)(s.defaultVersion())
	if err != nil {
		return err
	}
	body = bytes.TrimSpace(body)
	var rows []json.RawMessage
	single := len(body) > 0 && body[0] == '{'
	switch {
	case single:
		rows = []json.RawMessage{body}
	case len(body) > 0 && body[0] == '[':
		if err := decodeJSON(body, &rows); err != nil {
			return err
		}
	default:
		return badRequest("send a JSON object of the features %s", strings.Join(v.Features, ", "))
	}
	if len(rows) == 0 {
		return badRequest("the list of rows is empty")
	}
	x := make([]float64, 0, len(rows)*v.Info().Features)
	for i, raw := range rows {
		row, err := objectRow(v, raw)
		if err != nil && !single {
			err = badRequest("row %d: %v", i, err)
		}
		if err != nil {
			return err
		}
		x = append(x, row...)
	}
	outs, err := v.Predict(x, len(rows))
	if err != nil {
		return err
	}
	var b []byte
	if single {
		b = append([]byte(`{"prediction":`), appendRow(nil, outs[0], 0, len(outs[0].Numbers)+len(outs[0].Strings))...)
	} else {
		b = append([]byte(`{"predictions":`), appendRows(nil, outs[0])...)
	}
	writeBody(w, http.StatusOK, append(b, '}'))
	return nil
}

// defaultVersion is the model POST /predict answers with.
func (s *Server) defaultVersion() (*modelrepo.Version, error) {
	if s.opts.DefaultModel != "" {
		return s.repo.Version(s.opts.DefaultModel, "")
	}
	models := s.repo.Models()
	switch len(models) {
	case 0:
		return nil, &apiError{kind: kindNotReady, msg: "no model is loaded: put one in the model repository " + s.opts.Repository}
	case 1:
		return models[0].Version("")
	}
	var names []string
	for _, m := range models {
		names = append(names, m.Name)
	}
	return nil, badRequest("several models are served (%s): use /v1/models/{name}:predict, or start serve-model with --default-model", strings.Join(names, ", "))
}
