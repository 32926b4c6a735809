package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// printObject writes v as JSON or YAML, as kubectl's -o does. It reports
// false for the human format, which the caller prints itself.
func printObject(w io.Writer, format string, v any) (bool, error) {
	switch format {
	case "", "wide":
		return false, nil
	case "json":
		data, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return true, err
	case "yaml":
		data, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = w.Write(data)
		return true, err
	default:
		return true, fmt.Errorf("unknown output format %q: use -o json or -o yaml, or leave -o out for a table", format)
	}
}
