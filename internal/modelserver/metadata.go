package modelserver

import (
	"net/http"

	"github.com/skiff-dev/skiff/internal/model"
)

func (s *Server) serverMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "skiff", "version": s.opts.Version, "extensions": []string{}})
}

// tensorMetadata is the protocol's description of a tensor.
type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type modelMetadata struct {
	Name     string           `json:"name"`
	Versions []string         `json:"versions"`
	Platform string           `json:"platform"`
	Inputs   []tensorMetadata `json:"inputs"`
	Outputs  []tensorMetadata `json:"outputs"`
	// Features lists named inputs, a skiff extension: clients may send one
	// tensor per feature instead of the matrix.
	Features []string `json:"features,omitempty"`
}

// metadataOf describes a serving version, and lists the model's others.
func (s *Server) metadataOf(name, version string) (modelMetadata, error) {
	e, err := s.repo.Model(name)
	if err != nil {
		return modelMetadata{}, err
	}
	v, err := e.Version(version)
	if err != nil {
		return modelMetadata{}, err
	}
	info := v.Info()
	md := modelMetadata{
		Name: v.Model, Platform: info.Format, Features: v.Features,
		Inputs: []tensorMetadata{{Name: "input-0", Datatype: model.FP64, Shape: []int64{-1, int64(info.Features)}}},
	}
	for _, sv := range e.Versions() {
		md.Versions = append(md.Versions, sv.Name)
	}
	for _, o := range info.Outputs {
		md.Outputs = append(md.Outputs, tensorMetadata{Name: o.Name, Datatype: o.Datatype, Shape: o.Shape})
	}
	return md, nil
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) {
	md, err := s.metadataOf(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, md)
}
