package predict

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name, data string
		csv        bool
		want       Rows
		err        string
	}{
		{name: "a row", data: `[1, 2.5]`, want: Rows{Numbers: [][]float64{{1, 2.5}}}},
		{name: "rows", data: `[[1, 2], [3, 4]]`, want: Rows{Numbers: [][]float64{{1, 2}, {3, 4}}}},
		{name: "ragged rows", data: `[[1, 2], [3]]`, err: "row 2 has 1 values, row 1 has 2"},
		{name: "a named row keeps its order", data: `{"zn": 0, "age": 52}`, want: Rows{Named: []map[string]float64{{"zn": 0, "age": 52}}, Names: []string{"zn", "age"}}},
		{name: "named rows", data: `[{"a": 1}, {"a": 2}]`, want: Rows{Named: []map[string]float64{{"a": 1}, {"a": 2}}, Names: []string{"a"}}},
		{name: "not rows", data: `"hello"`, err: "give numbers as a row"},
		{name: "csv with a header", data: "a,b\n1,2\n3,4\n", csv: true, want: Rows{Named: []map[string]float64{{"a": 1, "b": 2}, {"a": 3, "b": 4}}, Names: []string{"a", "b"}}},
		{name: "csv of numbers", data: "1,2\n3,4\n", csv: true, want: Rows{Numbers: [][]float64{{1, 2}, {3, 4}}}},
		{name: "csv with a word in a row", data: "a,b\n1,x\n", csv: true, err: `line 2: "x" is not a number`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got Rows
			var err error
			if c.csv {
				got, err = ParseCSV([]byte(c.data))
			} else {
				got, err = ParseJSON([]byte(c.data))
			}
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestV2RoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		rows Rows
		want string
	}{
		{"positional", Rows{Numbers: [][]float64{{1, 2}, {3, 4}}}, `{"inputs":[{"name":"input-0","shape":[2,2],"datatype":"FP64","data":[1,2,3,4]}]}`},
		{"named", Rows{Named: []map[string]float64{{"a": 1, "b": 2}}, Names: []string{"b", "a"}}, `{"inputs":[{"name":"b","shape":[1],"datatype":"FP64","data":[2]},{"name":"a","shape":[1],"datatype":"FP64","data":[1]}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.rows.V2Request()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, string(got)); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
	table, err := V2Table([]byte(`{"outputs":[{"name":"predict","shape":[2],"data":[0.5,1.5]},{"name":"proba","shape":[2,2],"data":[0.1,0.9,0.8,0.2]}]}`), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := Table{Header: []string{"ROW", "PREDICT", "PROBA"}, Lines: [][]string{{"1", "0.5", "0.1,0.9"}, {"2", "1.5", "0.8,0.2"}}}
	if diff := cmp.Diff(want, table); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if _, err := V2Table([]byte(`{"error":"input has shape [1 4]"}`), 1); err == nil || !strings.Contains(err.Error(), "shape [1 4]") {
		t.Errorf("a refused request: %v", err)
	}
}
