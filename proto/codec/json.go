package codec

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// DefaultMaxDepth bounds JSON nesting (objects and arrays) on decode. Mesos
// uses the same limit since CVE-2018-11793.
const DefaultMaxDepth = 200

// maxMarshalDepth guards Marshal against a message graph with a cycle,
// which would otherwise recurse until the stack is exhausted.
const maxMarshalDepth = 10000

// JSONOptions configures NewJSON.
type JSONOptions struct {
	// MaxDepth is the deepest nesting of JSON objects and arrays Unmarshal
	// accepts (the top-level object is depth 1); 0 means DefaultMaxDepth.
	MaxDepth int

	// EmitDefaults makes Marshal also write unset optional fields that
	// declare an explicit [default = …] and are not deprecated, as stout's
	// JSON::protobuf does (e.g. CommandInfo.shell, Filters.refuse_seconds).
	// Off by default: only set fields are written.
	EmitDefaults bool
}

// JSONCodec is the Mesos flavour of JSON, the one stout's protobuf.hpp
// produces and accepts, written generically on protoreflect so it works for
// any message. It differs from protojson on purpose:
//
// Marshal:
//   - keys are proto field names (snake_case), in declaration order, as
//     stout walks the descriptor; map keys are sorted;
//   - 64-bit integers are JSON numbers, never strings (mesos-go's ffjson
//     decoders reject quoted int64s);
//   - doubles are shortest round-trip numbers, always with a decimal point
//     or exponent like stout ("15.0"); NaN and ±Inf are written as the
//     strings "NaN", "Infinity", "-Infinity";
//   - enums by name, bytes as standard padded base64;
//   - strings are escaped as stout does, including "/" as "\/";
//   - unset fields and empty repeated fields or maps are omitted;
//   - well-known types (Duration, Timestamp, …) are plain messages.
//
// Unmarshal:
//   - keys by proto name or json_name; unknown keys are ignored;
//   - null means unset anywhere, including array elements and map values;
//   - integers from numbers or numeric strings (integral values only, range
//     checked); doubles also from "Infinity", "-Infinity", "NaN";
//   - enums by name or number; an unknown value is dropped unless the field
//     is required;
//   - bytes in standard or URL-safe base64, padded or not;
//   - a scalar where a repeated field is expected appends one element, as
//     stout does;
//   - the body must be one JSON object with nothing after it, nested no
//     deeper than MaxDepth; required fields are then checked recursively.
type JSONCodec struct {
	maxDepth     int
	emitDefaults bool
}

// NewJSON returns a JSON codec with the given options.
func NewJSON(o JSONOptions) JSONCodec {
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	return JSONCodec{maxDepth: o.MaxDepth, emitDefaults: o.EmitDefaults}
}

// ContentType returns ContentTypeJSON.
func (JSONCodec) ContentType() string { return ContentTypeJSON }

// Marshal encodes m as Mesos JSON.
func (c JSONCodec) Marshal(m proto.Message) ([]byte, error) {
	return c.MarshalAppend(nil, m)
}

// MarshalAppend appends the JSON encoding of m to b. Unlike the protobuf
// codec it does not insist on required fields, as stout does not.
func (c JSONCodec) MarshalAppend(b []byte, m proto.Message) ([]byte, error) {
	if m == nil {
		return b, errors.New("codec: json marshal of a nil message")
	}
	e := encoder{buf: b, emitDefaults: c.emitDefaults}
	pm := m.ProtoReflect()
	if err := e.message(pm, infoFor(pm.Descriptor()), 0); err != nil {
		return b, err
	}
	return e.buf, nil
}

// msgInfo is what both directions need to know about a message type,
// computed once per descriptor.
type msgInfo struct {
	fields []fieldInfo           // declaration order
	byName map[string]*fieldInfo // proto and json names
}

type fieldInfo struct {
	fd         protoreflect.FieldDescriptor
	key        string // `"name":`, ready to append
	hasDefault bool   // declares a default and is not deprecated

	// child caches infoFor of the message type a message, list-of-message
	// or map-to-message field holds, saving a global lookup per value.
	child atomic.Pointer[msgInfo]
}

func (f *fieldInfo) childInfo() *msgInfo {
	if ci := f.child.Load(); ci != nil {
		return ci
	}
	md := f.fd.Message()
	if f.fd.IsMap() {
		md = f.fd.MapValue().Message()
	}
	ci := infoFor(md)
	f.child.Store(ci)
	return ci
}

var infoCache sync.Map // protoreflect.MessageDescriptor -> *msgInfo

func infoFor(md protoreflect.MessageDescriptor) *msgInfo {
	if v, ok := infoCache.Load(md); ok {
		return v.(*msgInfo)
	}
	fields := md.Fields()
	info := &msgInfo{
		fields: make([]fieldInfo, fields.Len()),
		byName: make(map[string]*fieldInfo, 2*fields.Len()),
	}
	for i := range fields.Len() {
		fd := fields.Get(i)
		deprecated := false
		if o, ok := fd.Options().(*descriptorpb.FieldOptions); ok {
			deprecated = o.GetDeprecated()
		}
		f := &info.fields[i]
		f.fd = fd
		f.key = string(appendString(nil, string(fd.Name()))) + ":"
		f.hasDefault = fd.HasDefault() && !deprecated && !fd.IsList() && !fd.IsMap()
	}
	// Proto names win over a json_name that happens to equal another
	// field's proto name.
	for i := range fields.Len() {
		fd := fields.Get(i)
		if _, ok := info.byName[fd.JSONName()]; !ok {
			info.byName[fd.JSONName()] = &info.fields[i]
		}
	}
	for i := range fields.Len() {
		fd := fields.Get(i)
		info.byName[string(fd.Name())] = &info.fields[i]
	}
	v, _ := infoCache.LoadOrStore(md, info)
	return v.(*msgInfo)
}

type encoder struct {
	buf          []byte
	emitDefaults bool
}

func (e *encoder) message(m protoreflect.Message, info *msgInfo, depth int) error {
	if depth > maxMarshalDepth {
		return fmt.Errorf("codec: json marshal: message nested deeper than %d (cycle?)", maxMarshalDepth)
	}
	e.buf = append(e.buf, '{')
	first := true
	for i := range info.fields {
		f := &info.fields[i]
		fd := f.fd
		if !m.Has(fd) && !(e.emitDefaults && f.hasDefault) {
			continue
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = append(e.buf, f.key...)
		var err error
		switch {
		case fd.IsMap():
			err = e.mapValue(f, m.Get(fd).Map(), depth)
		case fd.IsList():
			l := m.Get(fd).List()
			e.buf = append(e.buf, '[')
			for j := range l.Len() {
				if j > 0 {
					e.buf = append(e.buf, ',')
				}
				if err = e.value(f, fd, l.Get(j), depth); err != nil {
					break
				}
			}
			e.buf = append(e.buf, ']')
		default:
			err = e.value(f, fd, m.Get(fd), depth)
		}
		if err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) mapValue(f *fieldInfo, mp protoreflect.Map, depth int) error {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	sortMapKeys(keys)
	vd := f.fd.MapValue()
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, k.String())
		e.buf = append(e.buf, ':')
		if err := e.value(f, vd, mp.Get(k), depth); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// sortMapKeys orders keys numerically for integer kinds, false before true
// for bools, and bytewise for strings.
func sortMapKeys(keys []protoreflect.MapKey) {
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int {
		switch av := a.Interface().(type) {
		case string:
			return cmp.Compare(av, b.String())
		case bool:
			bv := b.Bool()
			switch {
			case av == bv:
				return 0
			case !av:
				return -1
			}
			return 1
		case int32, int64:
			return cmp.Compare(a.Int(), b.Int())
		default:
			return cmp.Compare(a.Uint(), b.Uint())
		}
	})
}

// value writes v, a value of fd's kind; f is the field it belongs to (for a
// map, fd is the map's value descriptor).
func (e *encoder) value(f *fieldInfo, fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) error {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
	case protoreflect.FloatKind:
		e.buf = appendFloat(e.buf, v.Float(), 32)
	case protoreflect.DoubleKind:
		e.buf = appendFloat(e.buf, v.Float(), 64)
	case protoreflect.StringKind:
		e.buf = appendString(e.buf, v.String())
	case protoreflect.BytesKind:
		e.buf = append(e.buf, '"')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, v.Bytes())
		e.buf = append(e.buf, '"')
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			e.buf = appendString(e.buf, string(ev.Name()))
		} else {
			// Only an open (proto3) enum can hold an unnamed number.
			e.buf = strconv.AppendInt(e.buf, int64(v.Enum()), 10)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return e.message(v.Message(), f.childInfo(), depth+1)
	default:
		return fmt.Errorf("codec: json marshal: field %s has unsupported kind %v", fd.FullName(), fd.Kind())
	}
	return nil
}

// appendFloat writes f so that it parses back to the same value. Mesos
// prints doubles with 15 significant digits, which loses precision; the
// shortest round-trip form agrees with it on every value that has at most
// 15 digits, which covers Mesos' 3-decimal fixed-point resources. Like
// stout, a decimal point is always present ("15.0", "3600000.0"), so the
// value stays recognisably a double.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	// Exponent form only for very large or small magnitudes, as ECMAScript
	// and encoding/json do, so ordinary values read naturally.
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 32 {
			abs32 := float32(abs)
			if abs32 < 1e-6 || abs32 >= 1e21 {
				format = 'e'
			}
		} else if abs < 1e-6 || abs >= 1e21 {
			format = 'e'
		}
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// "1e-07" → "1e-7": drop the exponent's leading zero.
		n := len(b)
		if n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way stout's StringWriter does:
// '"', '\\' and '/' are backslash-escaped, \b \f \n \r \t use their short
// forms, other control bytes and DEL become \u00XX, and everything else is
// copied. Invalid UTF-8 becomes U+FFFD so the output is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '/' && c != 0x7f {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\', '/':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
