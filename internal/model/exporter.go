package model

import _ "embed"

// ExporterScript is skiff's scikit-learn exporter (Python, runs with
// Debian's python3-sklearn): 'skiff export-sklearn' runs it, and users can
// import it in their training code.
//
//go:embed skiff_sklearn_export.py
var ExporterScript []byte
