package relay

// slabSize is the size of the buffers a Slab cuts chunks from: one
// allocation serves a stream's batches, each a few chunks.
const slabSize = 4096

// Slab is where a StreamEncoder writes the Data of its chunks: each chunk
// is cut from one buffer, which is reused from its start when a batch
// begins (Reset; see StreamEncoder.Encode), so that a converted stream
// allocates once, not once per chunk. The zero Slab is ready to use.
type Slab struct {
	buf []byte
}

// Reset starts a batch: the chunks cut before are done with.
func (s *Slab) Reset() { s.buf = s.buf[:0] }

// Buf returns an empty buffer with room for about n bytes, in the free
// part of the slab. The chunk is built in it (appends beyond its room
// move it out of the slab) and ended with Cut.
func (s *Slab) Buf(n int) []byte {
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, max(slabSize, n))
	}
	return s.buf[len(s.buf):len(s.buf)]
}

// Cut ends the chunk built in b: when b is still in the slab, the slab's
// used part grows over it. The chunk's capacity ends with it, so that
// appending to a chunk's Data cannot write over the next one.
func (s *Slab) Cut(b []byte) []byte {
	if end := len(s.buf) + len(b); len(b) > 0 && end <= cap(s.buf) && &s.buf[:end][len(s.buf)] == &b[0] {
		s.buf = s.buf[:end]
	}
	return b[:len(b):len(b)]
}
