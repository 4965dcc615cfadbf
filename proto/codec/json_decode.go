package codec

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Unmarshal resets m and decodes the JSON object in b into it, then checks
// required fields. Every error wraps ErrMalformed and names the field path
// and byte offset where decoding stopped.
func (c JSONCodec) Unmarshal(b []byte, m proto.Message) error {
	if err := checkTarget(m); err != nil {
		return err
	}
	proto.Reset(m)
	d := decoder{data: b, maxDepth: c.maxDepth}
	d.skipSpace()
	if d.pos >= len(d.data) {
		return d.errorf("expected a JSON object, got end of input")
	}
	if d.data[d.pos] != '{' {
		return d.errorf("expected a JSON object, got %s", d.describe())
	}
	pm := m.ProtoReflect()
	if err := d.message(pm, infoFor(pm.Descriptor())); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.errorf("unexpected data after the JSON object")
	}
	return checkRequired(m.ProtoReflect())
}

// decodeError is a JSON decoding failure. The field path is collected in
// reverse while the error unwinds, so the success path never builds it.
type decodeError struct {
	offset int
	rpath  []string // innermost first
	msg    string
}

func (e *decodeError) Error() string {
	var b strings.Builder
	b.WriteString(ErrMalformed.Error())
	b.WriteString(": json: ")
	for i := len(e.rpath) - 1; i >= 0; i-- {
		p := e.rpath[i]
		if i < len(e.rpath)-1 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	if len(e.rpath) > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	fmt.Fprintf(&b, " (at offset %d)", e.offset)
	return b.String()
}

func (e *decodeError) Unwrap() error { return ErrMalformed }

// inField prefixes the path of a decodeError with name.
func inField(err error, name string) error {
	if de, ok := err.(*decodeError); ok {
		de.rpath = append(de.rpath, name)
	}
	return err
}

type decoder struct {
	data     []byte
	pos      int
	depth    int
	maxDepth int
	scratch  []byte // unescaped string bytes; valid until the next string
}

func (d *decoder) errorf(format string, args ...any) error {
	return &decodeError{offset: d.pos, msg: fmt.Sprintf(format, args...)}
}

// at moves a decodeError's offset to the start of the offending value.
func (d *decoder) at(offset int, err error) error {
	if de, ok := err.(*decodeError); ok {
		de.offset = offset
	}
	return err
}

// describe names the token at pos for error messages.
func (d *decoder) describe() string {
	if d.pos >= len(d.data) {
		return "end of input"
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	default:
		return fmt.Sprintf("%q", c)
	}
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// consume skips space and then c, or fails.
func (d *decoder) consume(c byte) error {
	d.skipSpace()
	if d.pos >= len(d.data) || d.data[d.pos] != c {
		return d.errorf("expected %q, got %s", c, d.describe())
	}
	d.pos++
	return nil
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > d.maxDepth {
		return d.errorf("JSON nested deeper than %d levels", d.maxDepth)
	}
	return nil
}

// literal consumes one of true, false, null if it is next.
func (d *decoder) literal(word string) bool {
	if len(d.data)-d.pos >= len(word) && string(d.data[d.pos:d.pos+len(word)]) == word {
		d.pos += len(word)
		return true
	}
	return false
}

// object walks a JSON object, calling field for each key with the position
// at the value. The key slice is only valid during the call.
func (d *decoder) object(field func(key []byte) error) error {
	if err := d.consume('{'); err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return d.errorf("expected an object key, got %s", d.describe())
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		if err := d.consume(':'); err != nil {
			return err
		}
		d.skipSpace()
		if err := field(key); err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return d.errorf("unterminated object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return nil
		default:
			return d.errorf("expected ',' or '}' in object, got %s", d.describe())
		}
	}
}

// array walks a JSON array, calling elem with the position at each element.
func (d *decoder) array(elem func(i int) error) error {
	if err := d.consume('['); err != nil {
		return err
	}
	if err := d.enter(); err != nil {
		return err
	}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return nil
	}
	for i := 0; ; i++ {
		d.skipSpace()
		if err := elem(i); err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return d.errorf("unterminated array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return nil
		default:
			return d.errorf("expected ',' or ']' in array, got %s", d.describe())
		}
	}
}

// message decodes a JSON object into m, merging into what m already holds
// (a repeated key merges again, as protobuf merging does).
func (d *decoder) message(m protoreflect.Message, info *msgInfo) error {
	return d.object(func(key []byte) error {
		f, ok := info.byName[string(key)]
		if !ok {
			return d.skip() // unknown keys are ignored, but must still be valid JSON
		}
		if err := d.field(m, f); err != nil {
			return inField(err, string(f.fd.Name()))
		}
		return nil
	})
}

func (d *decoder) field(m protoreflect.Message, f *fieldInfo) error {
	fd := f.fd
	if d.literal("null") {
		return nil
	}
	switch {
	case fd.IsMap():
		return d.mapField(m, f)
	case fd.IsList():
		l := m.Mutable(fd).List()
		if d.pos < len(d.data) && d.data[d.pos] != '[' {
			// stout accepts a lone value for a repeated field as one element.
			return d.listElem(l, f)
		}
		return d.array(func(i int) error {
			if d.literal("null") {
				return nil
			}
			if err := d.listElem(l, f); err != nil {
				return inField(err, "["+strconv.Itoa(i)+"]")
			}
			return nil
		})
	case isMessage(fd):
		if d.pos >= len(d.data) || d.data[d.pos] != '{' {
			return d.errorf("expected an object, got %s", d.describe())
		}
		return d.message(m.Mutable(fd).Message(), f.childInfo())
	}
	v, ok, err := d.scalar(fd)
	if err != nil || !ok {
		return err
	}
	m.Set(fd, v)
	return nil
}

func (d *decoder) listElem(l protoreflect.List, f *fieldInfo) error {
	fd := f.fd
	if isMessage(fd) {
		if d.pos >= len(d.data) || d.data[d.pos] != '{' {
			return d.errorf("expected an object, got %s", d.describe())
		}
		elem := l.NewElement()
		if err := d.message(elem.Message(), f.childInfo()); err != nil {
			return err
		}
		l.Append(elem)
		return nil
	}
	v, ok, err := d.scalar(fd)
	if err != nil || !ok {
		return err
	}
	l.Append(v)
	return nil
}

func (d *decoder) mapField(m protoreflect.Message, f *fieldInfo) error {
	fd := f.fd
	if d.pos >= len(d.data) || d.data[d.pos] != '{' {
		return d.errorf("expected an object for a map, got %s", d.describe())
	}
	kd, vd := fd.MapKey(), fd.MapValue()
	mp := m.Mutable(fd).Map()
	return d.object(func(rawKey []byte) error {
		name := string(rawKey)
		k, err := d.mapKey(kd, name)
		if err != nil {
			return inField(err, "["+strconv.Quote(name)+"]")
		}
		if d.literal("null") {
			return nil
		}
		if isMessage(vd) {
			if d.pos >= len(d.data) || d.data[d.pos] != '{' {
				return inField(d.errorf("expected an object, got %s", d.describe()), "["+strconv.Quote(name)+"]")
			}
			v := mp.NewValue()
			if err := d.message(v.Message(), f.childInfo()); err != nil {
				return inField(err, "["+strconv.Quote(name)+"]")
			}
			mp.Set(k, v)
			return nil
		}
		v, ok, err := d.scalar(vd)
		if err != nil {
			return inField(err, "["+strconv.Quote(name)+"]")
		}
		if ok {
			mp.Set(k, v)
		}
		return nil
	})
}

func (d *decoder) mapKey(kd protoreflect.FieldDescriptor, s string) (protoreflect.MapKey, error) {
	switch kd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s).MapKey(), nil
	case protoreflect.BoolKind:
		switch s {
		case "true":
			return protoreflect.ValueOfBool(true).MapKey(), nil
		case "false":
			return protoreflect.ValueOfBool(false).MapKey(), nil
		}
		return protoreflect.MapKey{}, d.errorf("invalid bool map key %q", s)
	}
	if !isNumber([]byte(s)) {
		return protoreflect.MapKey{}, d.errorf("invalid integer map key %q", s)
	}
	v, err := d.integer(kd.Kind(), []byte(s))
	if err != nil {
		return protoreflect.MapKey{}, err
	}
	return v.MapKey(), nil
}

// scalar decodes one non-message value for fd's kind. ok is false when the
// value is to be dropped (an unknown enum value on a non-required field).
func (d *decoder) scalar(fd protoreflect.FieldDescriptor) (v protoreflect.Value, ok bool, err error) {
	if d.pos >= len(d.data) {
		return v, false, d.errorf("expected a value, got end of input")
	}
	c := d.data[d.pos]
	kind := fd.Kind()
	switch kind {
	case protoreflect.BoolKind:
		if d.literal("true") {
			return protoreflect.ValueOfBool(true), true, nil
		}
		if d.literal("false") {
			return protoreflect.ValueOfBool(false), true, nil
		}
		return v, false, d.errorf("expected true or false")

	case protoreflect.StringKind:
		if c != '"' {
			return v, false, d.errorf("expected a string, got %s", d.describe())
		}
		s, err := d.str()
		if err != nil {
			return v, false, err
		}
		return protoreflect.ValueOfString(string(s)), true, nil

	case protoreflect.BytesKind:
		if c != '"' {
			return v, false, d.errorf("expected a base64 string, got %s", d.describe())
		}
		start := d.pos
		s, err := d.str()
		if err != nil {
			return v, false, err
		}
		b, ok := decodeBase64(s)
		if !ok {
			d.pos = start
			return v, false, d.errorf("invalid base64")
		}
		return protoreflect.ValueOfBytes(b), true, nil

	case protoreflect.EnumKind:
		return d.enum(fd)

	case protoreflect.FloatKind, protoreflect.DoubleKind:
		start := d.pos
		text, quoted, err := d.numberText()
		if err != nil {
			return v, false, err
		}
		f, err := parseFloat(text, quoted, kind == protoreflect.FloatKind)
		if err != nil {
			d.pos = start
			return v, false, d.errorf("%v", err)
		}
		if kind == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), true, nil
		}
		return protoreflect.ValueOfFloat64(f), true, nil
	}

	// The integer kinds.
	start := d.pos
	text, quoted, err := d.numberText()
	if err != nil {
		return v, false, err
	}
	if quoted && !isNumber(text) {
		d.pos = start
		return v, false, d.errorf("expected an integer, got string %q", text)
	}
	if v, err = d.integer(kind, text); err != nil {
		d.pos = start // report the offset of the value, not of what follows
		return v, false, d.at(start, err)
	}
	return v, true, nil
}

// numberText reads a JSON number, or a string that may hold one, and
// returns its text. The text of a string is only valid until the next read.
func (d *decoder) numberText() (text []byte, quoted bool, err error) {
	c := d.data[d.pos]
	if c == '"' {
		s, err := d.str()
		return s, true, err
	}
	if c != '-' && (c < '0' || c > '9') {
		return nil, false, d.errorf("expected a number, got %s", d.describe())
	}
	start := d.pos
	end := scanNumber(d.data, start)
	if end < 0 {
		return nil, false, d.errorf("invalid number")
	}
	d.pos = end
	return d.data[start:end], false, nil
}

func (d *decoder) enum(fd protoreflect.FieldDescriptor) (protoreflect.Value, bool, error) {
	values := fd.Enum().Values()
	required := fd.Cardinality() == protoreflect.Required
	start := d.pos
	if d.data[d.pos] == '"' {
		s, err := d.str()
		if err != nil {
			return protoreflect.Value{}, false, err
		}
		if ev := values.ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), true, nil
		}
		if required {
			d.pos = start
			return protoreflect.Value{}, false, d.errorf("unknown value %q for required enum %s", s, fd.Enum().FullName())
		}
		// proto2 drops an unrecognised value (stout does the same), so the
		// field reads as its default.
		return protoreflect.Value{}, false, nil
	}
	text, _, err := d.numberText()
	if err != nil {
		return protoreflect.Value{}, false, err
	}
	n, err := d.integer(protoreflect.Int32Kind, text)
	if err != nil {
		return protoreflect.Value{}, false, d.at(start, err)
	}
	num := protoreflect.EnumNumber(n.Int())
	if values.ByNumber(num) != nil || !fd.Enum().IsClosed() {
		return protoreflect.ValueOfEnum(num), true, nil
	}
	if required {
		d.pos = start
		return protoreflect.Value{}, false, d.errorf("unknown value %d for required enum %s", num, fd.Enum().FullName())
	}
	return protoreflect.Value{}, false, nil
}

// integer converts JSON number text to the integer kind, exactly: "1e3"
// and "3.0" are integers, "3.5" is not, and nothing is rounded.
func (d *decoder) integer(kind protoreflect.Kind, text []byte) (protoreflect.Value, error) {
	neg, mag, err := parseIntegral(text)
	if err != nil {
		return protoreflect.Value{}, d.errorf("%v", err)
	}
	outOfRange := func() (protoreflect.Value, error) {
		sign := ""
		if neg {
			sign = "-"
		}
		return protoreflect.Value{}, d.errorf("integer %s%d out of range for %v", sign, mag, kind)
	}
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if (!neg && mag > math.MaxInt32) || (neg && mag > -math.MinInt32) {
			return outOfRange()
		}
		return protoreflect.ValueOfInt32(int32(signed(neg, mag))), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if (!neg && mag > math.MaxInt64) || (neg && mag > 1<<63) {
			return outOfRange()
		}
		return protoreflect.ValueOfInt64(signed(neg, mag)), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if (neg && mag != 0) || mag > math.MaxUint32 {
			return outOfRange()
		}
		return protoreflect.ValueOfUint32(uint32(mag)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if neg && mag != 0 {
			return outOfRange()
		}
		return protoreflect.ValueOfUint64(mag), nil
	}
	return protoreflect.Value{}, d.errorf("not an integer kind: %v", kind)
}

func signed(neg bool, mag uint64) int64 {
	if neg {
		return int64(-mag) // two's complement also covers -1<<63
	}
	return int64(mag)
}

// parseIntegral parses JSON number text (already validated by scanNumber or
// isNumber) as an exact integer magnitude. Work is bounded by the text
// length, whatever the exponent says.
func parseIntegral(s []byte) (neg bool, mag uint64, err error) {
	orig := s
	if len(s) > 0 && s[0] == '-' {
		neg = true
		s = s[1:]
	}
	// Split into mantissa digits and a decimal exponent.
	var digits []byte
	var buf [32]byte
	digits = buf[:0]
	exp := 0
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits = append(digits, s[i])
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits = append(digits, s[i])
			exp--
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		e := 0
		for ; i < len(s); i++ {
			if e < 100000 { // saturate: anything this large is out of range anyway
				e = e*10 + int(s[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	// Normalise: no leading zeros, no trailing zeros.
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if len(digits) == 0 {
		return neg, 0, nil
	}
	if exp < 0 {
		return false, 0, fmt.Errorf("number %s is not an integer", orig)
	}
	if len(digits)+exp > 20 {
		return false, 0, fmt.Errorf("integer %s out of range", orig)
	}
	for _, c := range digits {
		if mag > (math.MaxUint64-uint64(c-'0'))/10 {
			return false, 0, fmt.Errorf("integer %s out of range", orig)
		}
		mag = mag*10 + uint64(c-'0')
	}
	for range exp {
		if mag > math.MaxUint64/10 {
			return false, 0, fmt.Errorf("integer %s out of range", orig)
		}
		mag *= 10
	}
	return neg, mag, nil
}

func parseFloat(text []byte, quoted, is32 bool) (float64, error) {
	if quoted {
		switch string(text) {
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		case "NaN":
			return math.NaN(), nil
		}
		if !isNumber(text) {
			return 0, fmt.Errorf("expected a number, got string %q", text)
		}
	}
	bits := 64
	if is32 {
		bits = 32
	}
	f, err := strconv.ParseFloat(string(text), bits)
	if err != nil && !math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid number %q", text)
	}
	if math.IsInf(f, 0) {
		return 0, fmt.Errorf("number %s out of range", text)
	}
	return f, nil
}

// scanNumber returns the end of the JSON number starting at data[i], or -1.
// Grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) int {
	n := len(data)
	if i < n && data[i] == '-' {
		i++
	}
	switch {
	case i < n && data[i] == '0':
		i++
	case i < n && data[i] >= '1' && data[i] <= '9':
		for i < n && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < n && data[i] == '.' {
		i++
		if i >= n || data[i] < '0' || data[i] > '9' {
			return -1
		}
		for i < n && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < n && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < n && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= n || data[i] < '0' || data[i] > '9' {
			return -1
		}
		for i < n && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	return i
}

// isNumber reports whether s is exactly one JSON number.
func isNumber(s []byte) bool { return len(s) > 0 && scanNumber(s, 0) == len(s) }

// decodeBase64 accepts the standard alphabet (what Mesos writes) and, as a
// convenience, the URL-safe one, each with or without padding.
func decodeBase64(s []byte) ([]byte, bool) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	for _, c := range s {
		if c == '-' || c == '_' {
			enc = base64.URLEncoding
			if len(s)%4 != 0 {
				enc = base64.RawURLEncoding
			}
			break
		}
	}
	out := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(out, s)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// str reads a JSON string at pos and returns its unescaped bytes. The slice
// aliases the input or d.scratch and is only valid until the next call.
// Invalid UTF-8 and unpaired surrogates become U+FFFD, as encoding/json does.
func (d *decoder) str() ([]byte, error) {
	d.pos++ // opening quote
	start := d.pos
	// Fast path: plain ASCII with no escapes aliases the input.
	for i := start; i < len(d.data); i++ {
		c := d.data[i]
		if c == '"' {
			d.pos = i + 1
			return d.data[start:i], nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	out := d.scratch[:0]
	i := start
	for {
		if i >= len(d.data) {
			d.pos = i
			return nil, d.errorf("unterminated string")
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.scratch = out
			return out, nil
		case c < 0x20:
			d.pos = i
			return nil, d.errorf("control character %#x in string", c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.data[i:i+size]...)
			}
			i += size
		case c != '\\':
			out = append(out, c)
			i++
		default:
			if i+1 >= len(d.data) {
				d.pos = i
				return nil, d.errorf("unterminated string")
			}
			esc := d.data[i+1]
			i += 2
			switch esc {
			case '"', '\\', '/':
				out = append(out, esc)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(d.data, i)
				if !ok {
					d.pos = i - 2
					return nil, d.errorf("invalid \\u escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if i+1 < len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
						r2, ok = hex4(d.data, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				d.pos = i - 2
				return nil, d.errorf("invalid escape \\%c", esc)
			}
		}
	}
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skip validates and skips one JSON value of any type, within the depth
// limit, for keys the message does not know.
func (d *decoder) skip() error {
	if d.pos >= len(d.data) {
		return d.errorf("expected a value, got end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(func([]byte) error { return d.skip() })
	case c == '[':
		return d.array(func(int) error { return d.skip() })
	case c == '"':
		_, err := d.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		end := scanNumber(d.data, d.pos)
		if end < 0 {
			return d.errorf("invalid number")
		}
		d.pos = end
		return nil
	case d.literal("true"), d.literal("false"), d.literal("null"):
		return nil
	case c == 't' || c == 'f' || c == 'n':
		return d.errorf("invalid literal")
	}
	return d.errorf("unexpected %s", d.describe())
}
