package mastersim

import (
	"errors"
	"io"
)

// recordDecoder splits pushed stream bytes into RecordIO records
// ("<decimal length>\n<bytes>") incrementally. proto/recordio's Reader needs
// an io.Reader and so a goroutine per stream; this one is fed by the Pipe's
// push callback instead.
type recordDecoder struct {
	buf []byte
}

var errBadRecord = errors.New("mastersim: malformed RecordIO stream")

// feed appends data and calls rec for every complete record, in order. rec
// must not retain its argument.
func (d *recordDecoder) feed(data []byte, rec func([]byte) error) error {
	// Fast path: nothing carried over, so parse data in place and keep only
	// a partial tail (usually nothing): no copy, no buffer kept per stream.
	src := data
	if len(d.buf) > 0 {
		d.buf = append(d.buf, data...)
		src = d.buf
	}
	off := 0
	for {
		n, hdr, ok := parseLen(src[off:])
		if hdr < 0 {
			return errBadRecord
		}
		if !ok {
			break
		}
		if n == 0 {
			return errBadRecord
		}
		start := off + hdr
		if len(src)-start < n {
			break
		}
		if err := rec(src[start : start+n]); err != nil {
			return err
		}
		off = start + n
	}
	switch {
	case off == len(src):
		d.buf = nil
	case len(d.buf) > 0:
		rest := copy(d.buf, d.buf[off:])
		d.buf = d.buf[:rest]
	default:
		d.buf = append([]byte(nil), src[off:]...)
	}
	return nil
}

// parseLen reads "<digits>\n"; it returns the length, the header size, and
// whether a full header was present; hdr is -1 when b cannot start a valid
// header.
func parseLen(b []byte) (n, hdr int, ok bool) {
	for i, c := range b {
		switch {
		case c == '\n':
			if i == 0 {
				return 0, -1, false
			}
			return n, i + 1, true
		case c >= '0' && c <= '9':
			if i >= 20 {
				return 0, -1, false
			}
			n = n*10 + int(c-'0')
		default:
			return 0, -1, false
		}
	}
	return 0, len(b), false
}

// readLoop feeds a pull-mode body to a push callback (loopback transport):
// the one place the simulator spends a goroutine per stream.
func readLoop(body io.ReadCloser, push func([]byte, error)) {
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			push(buf[:n], nil)
		}
		if err != nil {
			push(nil, err)
			return
		}
	}
}
