package relay

import (
	"bufio"
	"bytes"
	"io"
)

// streamBuffer is the size of a stream's line reader. The transport
// already buffers the connection, so this one only has to hold a typical
// event; longer lines are gathered in LineReader.long. Small, because a
// gateway holds thousands of streams at once.
const streamBuffer = 512

// LineReader reads the lines of a server-sent event stream with a small
// buffer, for the adaptors' Streams.
type LineReader struct {
	r    *bufio.Reader
	long []byte // a line longer than the reader's buffer
}

// NewLineReader returns a line reader of r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, streamBuffer)}
}

// Line returns the next line without its line ending; the slice is valid
// until the next call. At the end it returns io.EOF.
func (s *LineReader) Line() ([]byte, error) {
	b, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = s.r.ReadSlice('\n')
			s.long = append(s.long, b...)
		}
		b = s.long
	}
	if err != nil && (err != io.EOF || len(b) == 0) {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r")), nil
}
