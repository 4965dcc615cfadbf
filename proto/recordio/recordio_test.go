package recordio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func TestWriterGolden(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.WriteRecord([]byte(`{"type":"HEARTBEAT"}`)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRecords([]byte("a"), []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	const want = "20\n{\"type\":\"HEARTBEAT\"}1\na10\n0123456789"
	if got := b.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestWriterRejectsEmpty(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.WriteRecord(nil); !errors.Is(err, ErrEmptyRecord) {
		t.Fatalf("WriteRecord(nil) = %v", err)
	}
	if err := w.WriteRecords([]byte("x"), []byte{}); !errors.Is(err, ErrEmptyRecord) {
		t.Fatalf("WriteRecords with empty = %v", err)
	}
	if b.Len() != 0 || w.Buffered() != 0 {
		t.Fatalf("wrote %q, buffered %d; want nothing", b.String(), w.Buffered())
	}
}

// countingFlusher records how the Writer drives an http.ResponseWriter.
type countingFlusher struct {
	*httptest.ResponseRecorder
	writes, flushes int
}

func (c *countingFlusher) Write(p []byte) (int, error) {
	c.writes++
	return c.ResponseRecorder.Write(p)
}

func (c *countingFlusher) Flush() { c.flushes++ }

func TestWriterBatchesFlushes(t *testing.T) {
	rec := &countingFlusher{ResponseRecorder: httptest.NewRecorder()}
	w := NewWriter(rec)
	for i := range 10 {
		if err := w.Append([]byte(strings.Repeat("x", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if rec.writes != 0 || rec.flushes != 0 {
		t.Fatalf("Append wrote early: %d writes, %d flushes", rec.writes, rec.flushes)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if rec.writes != 1 || rec.flushes != 1 {
		t.Fatalf("Flush: %d writes, %d flushes; want 1 and 1", rec.writes, rec.flushes)
	}
	if err := w.WriteRecord([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if rec.writes != 2 || rec.flushes != 2 {
		t.Fatalf("WriteRecord: %d writes, %d flushes; want 2 and 2", rec.writes, rec.flushes)
	}
	r := NewReader(rec.Body, 0)
	for i := range 10 {
		got, err := r.ReadRecord()
		if err != nil || len(got) != i+1 {
			t.Fatalf("record %d: %q, %v", i, got, err)
		}
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriterReportsWriteError(t *testing.T) {
	w := NewWriter(errWriter{})
	if err := w.WriteRecord([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("got %v", err)
	}
	if w.Buffered() != 0 {
		t.Fatal("failed bytes kept in the buffer")
	}
}

func readAll(r *Reader) ([][]byte, error) {
	var out [][]byte
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		records  int
		want     error
	}{
		{"empty stream", "", 0, 0, io.EOF},
		{"clean end", "1\na2\nbc", 0, 2, io.EOF},
		{"leading zeros", "003\nabc", 0, 1, io.EOF},
		{"zero", "0\n", 0, 0, ErrZeroLength},
		{"zero after a record", "1\na0\n", 0, 1, ErrZeroLength},
		{"empty length line", "\nabc", 0, 0, ErrInvalidHeader},
		{"non-digit", "1x\nabc", 0, 0, ErrInvalidHeader},
		{"negative", "-1\na", 0, 0, ErrInvalidHeader},
		{"space", " 1\na", 0, 0, ErrInvalidHeader},
		{"crlf", "1\r\na", 0, 0, ErrInvalidHeader},
		{"too many digits", strings.Repeat("1", 21) + "\n", 0, 0, ErrHeaderTooLong},
		{"over uint64", "99999999999999999999\n", 0, 0, ErrRecordTooLarge},
		{"over max", "11\nhello world", 10, 0, ErrRecordTooLarge},
		{"at max", "10\n0123456789", 10, 1, io.EOF},
		{"truncated header", "12", 0, 0, io.ErrUnexpectedEOF},
		{"truncated body", "5\nabc", 0, 0, io.ErrUnexpectedEOF},
		{"trailing newline is a bad header", "1\na\n", 0, 1, ErrInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(NewReader(strings.NewReader(tt.in), tt.max))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if len(got) != tt.records {
				t.Fatalf("read %d records, want %d", len(got), tt.records)
			}
		})
	}
}

func TestReaderStickyError(t *testing.T) {
	r := NewReader(strings.NewReader("x\n1\na"), 0)
	_, err1 := r.ReadRecord()
	_, err2 := r.ReadRecord()
	if !errors.Is(err1, ErrInvalidHeader) || err1 != err2 {
		t.Fatalf("errors %v then %v; want the same invalid-header error", err1, err2)
	}
}

// chunkReader returns its data in pieces of random size, like a proxy that
// re-chunks the stream.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(1+c.rng.IntN(7), len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestRoundTripArbitraryChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var records [][]byte
	for i := range 200 {
		n := 1 + rng.IntN(300)
		if i%50 == 0 {
			n = 200_000 // larger than the reader's first allocation
		}
		rec := make([]byte, n)
		for j := range rec {
			rec[j] = byte(rng.UintN(256))
		}
		records = append(records, rec)
	}
	var b bytes.Buffer
	if err := NewWriter(&b).WriteRecords(records...); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]io.Reader{
		"random chunks": &chunkReader{data: b.Bytes(), rng: rng},
		"one byte":      iotest.OneByteReader(bytes.NewReader(b.Bytes())),
		"data+EOF":      iotest.DataErrReader(bytes.NewReader(b.Bytes())),
	} {
		got, err := readAll(NewReader(src, 1<<20))
		if err != io.EOF {
			t.Fatalf("%s: error %v", name, err)
		}
		if len(got) != len(records) {
			t.Fatalf("%s: %d records, want %d", name, len(got), len(records))
		}
		for i := range got {
			if !bytes.Equal(got[i], records[i]) {
				t.Fatalf("%s: record %d differs", name, i)
			}
		}
	}
}

func TestReaderPropagatesReadError(t *testing.T) {
	r := NewReader(iotest.TimeoutReader(strings.NewReader("3\nab")), 0)
	// TimeoutReader answers the second Read with ErrTimeout; bufio's first
	// fill gets everything, so the error shows up on the short body.
	_, err := r.ReadRecord()
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("got %v", err)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{"", "1\na", "3\nabc2\nde", "0\n", "\n", "99999999999999999999999\n", "5\nab", "1x\n"} {
		f.Add([]byte(s), uint16(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		limit := int(max%1024) + 1
		r := NewReader(bytes.NewReader(data), limit)
		var consumed int
		for {
			rec, err := r.ReadRecord()
			if err != nil {
				break
			}
			if len(rec) == 0 || len(rec) > limit {
				t.Fatalf("record of %d bytes with limit %d", len(rec), limit)
			}
			consumed += len(rec)
			if consumed > len(data) {
				t.Fatalf("read more bytes than the input holds")
			}
			// Re-framing what was read must reproduce a prefix of the input
			// modulo leading zeros, so just check the record is in the input.
			if !bytes.Contains(data, rec) {
				t.Fatalf("record %q not in input", rec)
			}
		}
	})
}

func BenchmarkWriter(b *testing.B) {
	rec := bytes.Repeat([]byte("x"), 216)
	for _, batch := range []int{1, 16, 256} {
		b.Run(map[int]string{1: "flush-each", 16: "batch-16", 256: "batch-256"}[batch], func(b *testing.B) {
			w := NewWriter(io.Discard)
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = w.Append(rec)
				if (i+1)%batch == 0 {
					_ = w.Flush()
				}
			}
			_ = w.Flush()
		})
	}
}

func BenchmarkReader(b *testing.B) {
	rec := bytes.Repeat([]byte("x"), 216)
	var stream bytes.Buffer
	w := NewWriter(&stream)
	for range 1024 {
		_ = w.Append(rec)
	}
	_ = w.Flush()
	data := stream.Bytes()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	var r *Reader
	for i := 0; b.Loop(); i++ {
		if i%1024 == 0 {
			r = NewReader(bytes.NewReader(data), 0)
		}
		if _, err := r.ReadRecord(); err != nil {
			b.Fatal(err)
		}
	}
}
