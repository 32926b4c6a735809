package modelserver

import (
	"encoding/json"
	"math"
	"strconv"
)

// parseData flattens a tensor's JSON "data" (flat or nested arrays of
// numbers, booleans, null for a missing value, or strings for BYTES) in
// row-major order. It is hand-written because encoding/json turns null into
// 0 in a []float64, which would silently change a prediction.
func parseData(name string, raw []byte) (nums []float64, strs []string, err error) {
	p := dataParser{name: name, b: raw}
	p.skip()
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return nil, nil, badRequest("input %q: data must be an array", name)
	}
	if err := p.value(0); err != nil {
		return nil, nil, err
	}
	p.skip()
	if p.i != len(p.b) {
		return nil, nil, badRequest("input %q: unexpected text after data at byte %d", name, p.i)
	}
	if len(p.strs) > 0 && len(p.nums) > 0 {
		return nil, nil, badRequest("input %q: data mixes strings and numbers", name)
	}
	return p.nums, p.strs, nil
}

type dataParser struct {
	name string
	b    []byte
	i    int
	nums []float64
	strs []string
}

const maxDataDepth = 32

func (p *dataParser) skip() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *dataParser) value(depth int) error {
	p.skip()
	if p.i >= len(p.b) {
		return badRequest("input %q: data ends early", p.name)
	}
	switch c := p.b[p.i]; {
	case c == '[':
		if depth >= maxDataDepth {
			return badRequest("input %q: data nests deeper than %d", p.name, maxDataDepth)
		}
		p.i++
		p.skip()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.value(depth + 1); err != nil {
				return err
			}
			p.skip()
			if p.i >= len(p.b) {
				return badRequest("input %q: data ends inside an array", p.name)
			}
			if p.b[p.i] == ']' {
				p.i++
				return nil
			}
			if p.b[p.i] != ',' {
				return badRequest("input %q: expected , or ] at byte %d of data", p.name, p.i)
			}
			p.i++
		}
	case c == '"':
		end := p.i + 1
		for end < len(p.b) && p.b[end] != '"' {
			if p.b[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(p.b) {
			return badRequest("input %q: unterminated string in data", p.name)
		}
		var s string
		if err := json.Unmarshal(p.b[p.i:end+1], &s); err != nil {
			return badRequest("input %q: bad string in data: %v", p.name, err)
		}
		p.strs = append(p.strs, s)
		p.i = end + 1
	case p.literal("null"):
		p.nums = append(p.nums, math.NaN())
	case p.literal("true"):
		p.nums = append(p.nums, 1)
	case p.literal("false"):
		p.nums = append(p.nums, 0)
	default:
		start := p.i
		for p.i < len(p.b) && (p.b[p.i] == '-' || p.b[p.i] == '+' || p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E' || (p.b[p.i] >= '0' && p.b[p.i] <= '9')) {
			p.i++
		}
		text := string(p.b[start:p.i])
		v, err := strconv.ParseFloat(text, 64)
		if err != nil || !json.Valid(p.b[start:p.i]) {
			if start == p.i {
				return badRequest("input %q: unexpected %q at byte %d of data: want a number, true, false, null or a string", p.name, p.b[start], start)
			}
			return badRequest("input %q: %q is not a finite JSON number", p.name, text)
		}
		p.nums = append(p.nums, v)
	}
	return nil
}

func (p *dataParser) literal(word string) bool {
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}
