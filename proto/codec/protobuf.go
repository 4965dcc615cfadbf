package codec

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DefaultRecursionLimit bounds protobuf message nesting on decode. It is the
// C++ protobuf default, so mesosd rejects exactly what a Mesos master would.
const DefaultRecursionLimit = 100

// ProtobufOptions configures NewProtobuf.
type ProtobufOptions struct {
	// RecursionLimit is the maximum message nesting accepted on decode;
	// 0 means DefaultRecursionLimit.
	RecursionLimit int
}

// ProtobufCodec is the application/x-protobuf codec: the standard binary
// wire format, with bounded decoding and required-field errors that name the
// path of every missing field.
type ProtobufCodec struct {
	recursionLimit int
}

// NewProtobuf returns a protobuf codec with the given options.
func NewProtobuf(o ProtobufOptions) ProtobufCodec {
	if o.RecursionLimit <= 0 {
		o.RecursionLimit = DefaultRecursionLimit
	}
	return ProtobufCodec{recursionLimit: o.RecursionLimit}
}

// ContentType returns ContentTypeProtobuf.
func (ProtobufCodec) ContentType() string { return ContentTypeProtobuf }

// Marshal encodes m. A message with unset required fields is an error:
// mesosd must never send what a Mesos client would refuse to parse.
func (c ProtobufCodec) Marshal(m proto.Message) ([]byte, error) {
	return c.MarshalAppend(nil, m)
}

// MarshalAppend appends the encoding of m to b, so stream writers can reuse
// one buffer per subscriber.
func (ProtobufCodec) MarshalAppend(b []byte, m proto.Message) ([]byte, error) {
	out, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b, fmt.Errorf("codec: protobuf marshal: %w", err)
	}
	return out, nil
}

// Unmarshal resets m and decodes b into it. Errors wrap ErrMalformed; a
// missing required field is reported as "missing required fields: a.b, …".
func (c ProtobufCodec) Unmarshal(b []byte, m proto.Message) error {
	if err := checkTarget(m); err != nil {
		return err
	}
	// AllowPartial defers the required-field check to checkRequired, whose
	// error names paths rather than only the innermost field.
	opts := proto.UnmarshalOptions{AllowPartial: true, RecursionLimit: c.recursionLimit}
	if err := opts.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: protobuf: %v", ErrMalformed, err)
	}
	return checkRequired(m.ProtoReflect())
}

func checkTarget(m proto.Message) error {
	if m == nil || !m.ProtoReflect().IsValid() {
		return fmt.Errorf("codec: cannot unmarshal into a nil message")
	}
	return nil
}

// maxReportedMissing bounds the required-field error for hostile inputs
// with thousands of incomplete repeated elements.
const maxReportedMissing = 10

// checkRequired returns an ErrMalformed error naming every unset proto2
// required field of m, recursively, in the form C++ protobuf's
// InitializationErrorString uses (Mesos puts that string in its 400 body):
// "subscribe.framework_info.user", "launch.task_infos[1].agent_id".
func checkRequired(m protoreflect.Message) error {
	err := proto.CheckInitialized(m.Interface())
	if err == nil {
		return nil // fast path: the generated tables answer without reflection
	}
	var missing []string
	total := findMissing(m, "", &missing)
	if total == 0 {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	list := strings.Join(missing, ", ")
	if total > len(missing) {
		list += fmt.Sprintf(" and %d more", total-len(missing))
	}
	return fmt.Errorf("%w: missing required fields: %s", ErrMalformed, list)
}

// findMissing appends up to maxReportedMissing paths to out and returns the
// total count of missing required fields under m.
func findMissing(m protoreflect.Message, prefix string, out *[]string) int {
	total := 0
	add := func(p string) {
		total++
		if len(*out) < maxReportedMissing {
			*out = append(*out, p)
		}
	}
	// Declaration order (and sorted map keys) keep the message stable.
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := prefix + string(fd.Name())
		if !m.Has(fd) {
			if fd.Cardinality() == protoreflect.Required {
				add(name)
			}
			continue
		}
		switch {
		case fd.IsMap():
			if !isMessage(fd.MapValue()) {
				continue
			}
			mp := m.Get(fd).Map()
			keys := make([]protoreflect.MapKey, 0, mp.Len())
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			sortMapKeys(keys)
			for _, k := range keys {
				total += findMissing(mp.Get(k).Message(), fmt.Sprintf("%s[%q].", name, k.String()), out)
			}
		case fd.IsList():
			if !isMessage(fd) {
				continue
			}
			l := m.Get(fd).List()
			for j := range l.Len() {
				total += findMissing(l.Get(j).Message(), fmt.Sprintf("%s[%d].", name, j), out)
			}
		case isMessage(fd):
			total += findMissing(m.Get(fd).Message(), name+".", out)
		}
	}
	return total
}

func isMessage(fd protoreflect.FieldDescriptor) bool {
	k := fd.Kind()
	return k == protoreflect.MessageKind || k == protoreflect.GroupKind
}
