// Package recordio implements the RecordIO framing Mesos uses for every
// streaming response (scheduler, operator and executor SUBSCRIBE).
//
// A stream is a sequence of records, each one
//
//	<decimal length>\n<length bytes>
//
// with no separator after the data (apache/mesos docs/recordio.md). The
// length is an unsigned decimal integer and is never 0: an empty record would
// be indistinguishable from a keep-alive in some clients, and Mesos never
// writes one. Proxies may re-chunk the stream, so readers parse by length and
// never rely on chunk or packet boundaries.
//
// Writing is split into buffering (Append) and flushing (Flush) because the
// cost of a stream is dominated by flushes: one flush per record caps an
// HTTP/1.1 chunked stream at roughly 185k records/s on the reference machine,
// while one flush per 16 records reaches millions. Callers that hold several
// events for one subscriber should Append them all and Flush once.
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// DefaultMaxRecordSize bounds a record when NewReader is given no limit.
// It matches protobuf's own 64 MiB ceiling for a single message.
const DefaultMaxRecordSize = 64 << 20

// maxHeaderDigits is the number of decimal digits of the largest uint64;
// a longer length line cannot be a valid record size.
const maxHeaderDigits = 20

// Errors returned by Reader and Writer. Each error a Reader returns for a
// bad length line wraps exactly one of the first four, so callers can tell
// a corrupt stream from a hostile one with errors.Is.
var (
	// ErrHeaderTooLong: the length line has more digits than any uint64.
	ErrHeaderTooLong = errors.New("recordio: length line too long")
	// ErrInvalidHeader: the length line is empty or holds a non-digit.
	ErrInvalidHeader = errors.New("recordio: invalid length line")
	// ErrZeroLength: a record of length 0, which the format forbids.
	ErrZeroLength = errors.New("recordio: zero-length record")
	// ErrRecordTooLarge: the record is longer than the reader's limit.
	ErrRecordTooLarge = errors.New("recordio: record too large")
	// ErrEmptyRecord: a Writer was asked to write a zero-length record.
	ErrEmptyRecord = errors.New("recordio: cannot write an empty record")
)

// AppendFrame appends record, framed, to dst and returns the extended
// slice. It does not check for an empty record; Writer does.
func AppendFrame(dst, record []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(len(record)), 10)
	dst = append(dst, '\n')
	return append(dst, record...)
}

// Writer frames records onto an io.Writer. If the underlying writer is an
// http.Flusher (an http.ResponseWriter), Flush also pushes the bytes to the
// client, which is what makes each event visible on a chunked stream.
//
// A Writer is not safe for concurrent use; a stream has one writer.
type Writer struct {
	w   io.Writer
	f   http.Flusher // nil when w cannot flush
	buf []byte       // framed records not yet written; reused between flushes
}

// NewWriter returns a Writer on w. If w implements http.Flusher it is
// flushed on every Flush.
func NewWriter(w io.Writer) *Writer {
	f, _ := w.(http.Flusher)
	return &Writer{w: w, f: f}
}

// Append frames record into the Writer's buffer without writing it. The
// record bytes are copied, so the caller may reuse record at once.
func (w *Writer) Append(record []byte) error {
	if len(record) == 0 {
		return ErrEmptyRecord
	}
	w.buf = AppendFrame(w.buf, record)
	return nil
}

// Buffered returns the number of framed bytes waiting for Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// Flush writes every appended record to the underlying writer in one Write
// and then flushes it. Flushing with nothing buffered still flushes the
// underlying writer, which is harmless and lets callers push headers early.
func (w *Writer) Flush() error {
	if len(w.buf) > 0 {
		_, err := w.w.Write(w.buf)
		// Drop the bytes even on error: a stream that failed mid-write is
		// unusable, and retrying would duplicate a partial record.
		w.buf = w.buf[:0]
		if err != nil {
			return fmt.Errorf("recordio: write: %w", err)
		}
	}
	if w.f != nil {
		w.f.Flush()
	}
	return nil
}

// WriteRecord writes one record and flushes it, as Mesos does for every
// event. Prefer WriteRecords or Append+Flush when several are ready.
func (w *Writer) WriteRecord(record []byte) error {
	if err := w.Append(record); err != nil {
		return err
	}
	return w.Flush()
}

// WriteRecords writes all records with a single Write and a single flush.
// Nothing is written if any record is empty.
func (w *Writer) WriteRecords(records ...[]byte) error {
	for _, r := range records {
		if len(r) == 0 {
			return ErrEmptyRecord
		}
	}
	for _, r := range records {
		w.buf = AppendFrame(w.buf, r)
	}
	return w.Flush()
}

// Reader splits a RecordIO stream into records. It buffers its input, so
// records may be split across arbitrary read boundaries.
//
// After any error other than io.EOF between records, the stream position is
// unknown and every later call returns the same error.
type Reader struct {
	r   *bufio.Reader
	max uint64
	err error
}

// NewReader returns a Reader on r that rejects records longer than
// maxRecordSize bytes. maxRecordSize <= 0 means DefaultMaxRecordSize.
func NewReader(r io.Reader, maxRecordSize int) *Reader {
	if maxRecordSize <= 0 {
		maxRecordSize = DefaultMaxRecordSize
	}
	return &Reader{r: bufio.NewReader(r), max: uint64(maxRecordSize)}
}

// initialChunk caps the first allocation for a record, so a length line
// that announces a huge record costs memory only as its bytes arrive.
const initialChunk = 64 << 10

// ReadRecord returns the next record. The returned slice is owned by the
// caller. It returns io.EOF when the stream ends cleanly between records,
// and io.ErrUnexpectedEOF when it ends inside a length line or a record.
func (r *Reader) ReadRecord() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	n, err := r.readHeader()
	if err != nil {
		r.err = err
		return nil, err
	}
	rec, err := r.readBody(n)
	if err != nil {
		r.err = err
		return nil, err
	}
	return rec, nil
}

func (r *Reader) readHeader() (uint64, error) {
	var (
		n      uint64
		digits int
		over   bool // the value no longer fits in a uint64
	)
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				if digits == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("recordio: stream ended in a length line: %w", io.ErrUnexpectedEOF)
			}
			return 0, fmt.Errorf("recordio: read: %w", err)
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: unexpected byte %q after %d digits", ErrInvalidHeader, c, digits)
		}
		digits++
		if digits > maxHeaderDigits {
			return 0, fmt.Errorf("%w: more than %d digits", ErrHeaderTooLong, maxHeaderDigits)
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			over = true
		}
		n = n*10 + d
	}
	switch {
	case digits == 0:
		return 0, fmt.Errorf("%w: empty length line", ErrInvalidHeader)
	case over || n > r.max:
		return 0, fmt.Errorf("%w: record announces more than the %d byte limit", ErrRecordTooLarge, r.max)
	case n == 0:
		return 0, ErrZeroLength
	}
	return n, nil
}

func (r *Reader) readBody(n uint64) ([]byte, error) {
	size := int(n) // n <= max, which came from an int
	buf := make([]byte, 0, min(size, initialChunk))
	for len(buf) < size {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow geometrically
			if cap(buf) > size {
				buf = buf[:len(buf):size]
			}
		}
		want := min(cap(buf), size)
		m, err := r.r.Read(buf[len(buf):want])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < size {
			if err == io.EOF {
				return nil, fmt.Errorf("recordio: stream ended after %d of %d record bytes: %w", len(buf), size, io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("recordio: read: %w", err)
		}
	}
	return buf, nil
}
