package relay

import (
	"bytes"
	"testing"
)

// Chunks cut from a slab keep their bytes while the batch lasts, however
// they are appended to; after Reset the memory is reused.
func TestSlab(t *testing.T) {
	var s Slab
	a := s.Cut(append(s.Buf(8), "first"...))
	b := s.Cut(append(s.Buf(8), "second"...))
	_ = append(a, "XXXXXXXX"...) // must not write over b
	if string(a) != "first" || string(b) != "second" {
		t.Fatalf("a=%q b=%q", a, b)
	}
	big := s.Cut(append(s.Buf(4), bytes.Repeat([]byte("y"), 3*slabSize)...)) // outgrew its room
	c := s.Cut(append(s.Buf(8), "third"...))
	if len(big) != 3*slabSize || string(b) != "second" || string(c) != "third" {
		t.Fatalf("b=%q c=%q", b, c)
	}
	s.Reset()
	d := s.Cut(append(s.Buf(8), "fourth"...))
	if &d[0] != &a[0] {
		t.Error("Reset did not reuse the slab")
	}
}
