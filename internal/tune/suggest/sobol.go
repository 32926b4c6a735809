package suggest

import "fmt"

// Direction numbers of Joe and Kuo (new-joe-kuo-6.21201) for dimensions
// 2 to 21: the degree s and coefficients a of a primitive polynomial, and
// the initial numbers m. Dimension 1 is van der Corput's.
var sobolDirections = []struct {
	s, a uint32
	m    []uint32
}{
	{1, 0, []uint32{1}},
	{2, 1, []uint32{1, 3}},
	{3, 1, []uint32{1, 3, 1}},
	{3, 2, []uint32{1, 1, 1}},
	{4, 1, []uint32{1, 1, 3, 3}},
	{4, 4, []uint32{1, 3, 5, 13}},
	{5, 2, []uint32{1, 1, 5, 5, 17}},
	{5, 4, []uint32{1, 1, 5, 5, 5}},
	{5, 7, []uint32{1, 1, 7, 11, 19}},
	{5, 11, []uint32{1, 1, 5, 1, 1}},
	{5, 13, []uint32{1, 1, 1, 3, 11}},
	{5, 14, []uint32{1, 3, 5, 5, 31}},
	{6, 1, []uint32{1, 3, 3, 9, 7, 49}},
	{6, 13, []uint32{1, 1, 1, 15, 21, 21}},
	{6, 16, []uint32{1, 3, 1, 13, 27, 49}},
	{6, 19, []uint32{1, 1, 1, 15, 7, 5}},
	{6, 22, []uint32{1, 3, 1, 15, 13, 25}},
	{6, 25, []uint32{1, 1, 5, 5, 19, 61}},
	{7, 1, []uint32{1, 3, 7, 11, 23, 15, 103}},
	{7, 4, []uint32{1, 3, 7, 13, 13, 15, 69}},
}

// sobolBits is the precision of the points.
const sobolBits = 32

// sobol is a Sobol sequence over the space, digitally shifted by the
// seed (an XOR per dimension, which keeps the sequence's stratification),
// without its first point (all zeros).
type sobol struct {
	space Space
	v     [][sobolBits]uint32 // direction numbers per dimension
	shift []uint32
}

func newSobol(space Space, seed int64) (*sobol, error) {
	if len(space) > len(sobolDirections)+1 {
		return nil, fmt.Errorf("sobol takes at most %d parameters, not %d: use random or tpe", len(sobolDirections)+1, len(space))
	}
	s := &sobol{space: space}
	g := rng(seed, -1)
	for d := range space {
		s.v = append(s.v, directions(d))
		s.shift = append(s.shift, g.Uint32())
	}
	return s, nil
}

// directions are dimension d's (0-based) direction numbers.
func directions(d int) [sobolBits]uint32 {
	var v [sobolBits]uint32
	if d == 0 {
		for k := range sobolBits {
			v[k] = 1 << (sobolBits - 1 - k)
		}
		return v
	}
	dir := sobolDirections[d-1]
	s := int(dir.s)
	for k := 0; k < s; k++ {
		v[k] = dir.m[k] << (sobolBits - 1 - k)
	}
	for k := s; k < sobolBits; k++ {
		v[k] = v[k-s] ^ (v[k-s] >> dir.s)
		for l := 1; l < s; l++ {
			if (dir.a>>(s-1-l))&1 == 1 {
				v[k] ^= v[k-l]
			}
		}
	}
	return v
}

// point is the sequence's point i (1-based: 0 is the origin) in [0, 1)^d.
func (s *sobol) point(i int) []float64 {
	gray := uint64(i) ^ uint64(i)>>1
	out := make([]float64, len(s.v))
	for d := range s.v {
		var x uint32
		for k := 0; k < sobolBits && gray>>k != 0; k++ {
			if gray>>k&1 == 1 {
				x ^= s.v[d][k]
			}
		}
		out[d] = float64(x^s.shift[d]) / (1 << sobolBits)
	}
	return out
}

func (s *sobol) Sample(n int, _ []Trial) (Assignment, error) {
	u := s.point(n + 1)
	a := Assignment{}
	for d, p := range s.space {
		a[p.Name] = p.at(u[d])
	}
	return a, nil
}
