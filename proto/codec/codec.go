// Package codec holds the two message encodings every mesosd v1 API speaks:
// protobuf and the Mesos flavour of JSON. It also implements the content
// negotiation Mesos applies to them.
//
// Invariants callers can rely on:
//   - ForContentType does the exact, case-sensitive string match Mesos does,
//     so "application/json; charset=utf-8" is not a JSON request (415).
//   - Negotiate reads every Accept header value and prefers JSON over
//     protobuf, as Master::Http::scheduler does; no Accept means JSON.
//   - Every decoding failure, including a missing proto2 required field,
//     wraps ErrMalformed, which the HTTP layer maps to 400.
//   - Decoding is bounded: JSON nesting depth and protobuf recursion are
//     limited, and no input makes a codec panic.
//
// The JSON codec is not protojson: see JSONCodec for the differences.
package codec

import (
	"errors"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
)

// Media types of the two encodings, exactly as Mesos writes and compares them.
const (
	ContentTypeJSON     = "application/json"
	ContentTypeProtobuf = "application/x-protobuf"
)

// ErrMalformed is wrapped by every error a codec returns for input it
// cannot decode into a complete message.
var ErrMalformed = errors.New("malformed message")

// Codec encodes and decodes protobuf messages in one media type.
// Implementations are safe for concurrent use.
type Codec interface {
	// ContentType is the media type, for Content-Type headers.
	ContentType() string
	// Marshal encodes m.
	Marshal(m proto.Message) ([]byte, error)
	// Unmarshal resets m and decodes b into it. Errors wrap ErrMalformed.
	Unmarshal(b []byte, m proto.Message) error
}

// The two codecs with default options.
var (
	JSON     Codec = NewJSON(JSONOptions{})
	Protobuf Codec = NewProtobuf(ProtobufOptions{})
)

// ForContentType returns the codec for a request's Content-Type. The match
// is an exact string comparison, as in Mesos; parameters or different case
// make it fail, and the caller answers 415.
func ForContentType(ct string) (Codec, bool) {
	switch ct {
	case ContentTypeJSON:
		return JSON, true
	case ContentTypeProtobuf:
		return Protobuf, true
	}
	return nil, false
}

// Negotiate picks the response codec from all values of the request's
// Accept header (pass r.Header.Values("Accept"); mesos-go sends the header
// twice). Like libprocess's Request::acceptsMediaType, each candidate is
// accepted when the most specific matching media range (type/subtype, then
// type/*, then */*) has q > 0; JSON is tried first, then protobuf, so q
// values only decide acceptability, not preference. No Accept header, or
// only empty values, accepts everything and yields JSON. ok is false when
// neither type is acceptable; the caller answers 406.
func Negotiate(accept []string) (c Codec, ok bool) {
	ranges := parseAccept(accept)
	if ranges == nil {
		return JSON, true
	}
	if accepts(ranges, "application", "json") {
		return JSON, true
	}
	if accepts(ranges, "application", "x-protobuf") {
		return Protobuf, true
	}
	return nil, false
}

type mediaRange struct {
	typ, sub string // lower case; "*" for wildcards
	q        float64
}

// parseAccept returns the media ranges of all values, or nil when there is
// no non-empty value. Unparseable ranges are skipped rather than failing the
// whole header, so one odd entry does not turn into a 406.
func parseAccept(values []string) []mediaRange {
	var out []mediaRange
	seen := false
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			seen = true
			mr, ok := parseMediaRange(part)
			if ok {
				out = append(out, mr)
			}
		}
	}
	if !seen {
		return nil
	}
	if out == nil {
		out = []mediaRange{} // present but useless: nothing is acceptable
	}
	return out
}

func parseMediaRange(s string) (mediaRange, bool) {
	mt, params, _ := strings.Cut(s, ";")
	typ, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(mt)), "/")
	typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
	if !ok || typ == "" || sub == "" || (typ == "*" && sub != "*") {
		return mediaRange{}, false
	}
	mr := mediaRange{typ: typ, sub: sub, q: 1}
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || q < 0 || q > 1 {
			return mediaRange{}, false
		}
		mr.q = q
	}
	return mr, true
}

// accepts reports whether the most specific range matching typ/sub has a
// positive q. Among equally specific ranges the highest q wins.
func accepts(ranges []mediaRange, typ, sub string) bool {
	best, bestQ := -1, 0.0
	for _, r := range ranges {
		spec := -1
		switch {
		case r.typ == typ && r.sub == sub:
			spec = 2
		case r.typ == typ && r.sub == "*":
			spec = 1
		case r.typ == "*" && r.sub == "*":
			spec = 0
		}
		if spec > best || (spec == best && spec >= 0 && r.q > bestQ) {
			best, bestQ = spec, r.q
		}
	}
	return best >= 0 && bestQ > 0
}
