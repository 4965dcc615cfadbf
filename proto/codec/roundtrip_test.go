package codec

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// fillRandom sets a random selection of m's fields, always every required
// one, so the result is a complete message of arbitrary shape.
func fillRandom(rng *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		required := fd.Cardinality() == protoreflect.Required
		if !required && (depth > 5 || rng.IntN(3) != 0) {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range rng.IntN(3) {
				k := randomScalar(rng, fd.MapKey()).MapKey()
				if isMessage(fd.MapValue()) {
					v := mp.NewValue()
					fillRandom(rng, v.Message(), depth+1)
					mp.Set(k, v)
				} else {
					mp.Set(k, randomScalar(rng, fd.MapValue()))
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 1 + rng.IntN(3) {
				if isMessage(fd) {
					v := l.NewElement()
					fillRandom(rng, v.Message(), depth+1)
					l.Append(v)
				} else {
					l.Append(randomScalar(rng, fd))
				}
			}
		case isMessage(fd):
			fillRandom(rng, m.Mutable(fd).Message(), depth+1)
		default:
			m.Set(fd, randomScalar(rng, fd))
		}
	}
}

var (
	randomInts   = []int64{0, 1, -1, 42, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, 1 << 53, 1<<53 + 1}
	randomFloats = []float64{0, math.Copysign(0, -1), 0.1, 3.9, -2.5, 1e-7, 1e21, 1e300, 5e-324, math.MaxFloat64,
		math.Inf(1), math.Inf(-1), math.NaN(), 3600000, 1712345678.123456}
	randomRunes = []rune("aZ09 \"\\/\b\f\n\r\t\x00\x1f\x7f<>&é😀\u2028\ufffd")
)

func randomScalar(rng *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(rng.IntN(2) == 0)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(rng.IntN(vals.Len())).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(pick(rng, randomInts, rng.Int64())))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(pick(rng, randomInts, rng.Int64()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(pick(rng, randomInts, rng.Int64())))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(pick(rng, randomInts, rng.Int64())))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(pick(rng, randomFloats, rng.NormFloat64()*1e6)))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(pick(rng, randomFloats, rng.NormFloat64()*1e6))
	case protoreflect.StringKind:
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteRune(randomRunes[rng.IntN(len(randomRunes))])
		}
		return protoreflect.ValueOfString(b.String())
	case protoreflect.BytesKind:
		b := make([]byte, rng.IntN(20))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return protoreflect.ValueOfBytes(b)
	}
	panic("unexpected kind " + fd.Kind().String())
}

func pick[T any](rng *rand.Rand, special []T, random T) T {
	if rng.IntN(2) == 0 {
		return special[rng.IntN(len(special))]
	}
	return random
}

func TestRoundTripRandomMessages(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	types := []proto.Message{
		&scheduler.Call{}, &scheduler.Event{}, &mesos.TaskInfo{}, &mesos.Offer{},
		&master.Response{}, &master.Event{}, &descriptorpb.FileDescriptorProto{},
	}
	iterations := 300
	if testing.Short() {
		iterations = 30
	}
	for _, typ := range types {
		for i := range iterations {
			m := typ.ProtoReflect().New()
			fillRandom(rng, m, 0)
			orig := m.Interface()
			for _, c := range []Codec{JSON, Protobuf} {
				b, err := c.Marshal(orig)
				if err != nil {
					t.Fatalf("%T #%d %s Marshal: %v", orig, i, c.ContentType(), err)
				}
				back := typ.ProtoReflect().New().Interface()
				if err := c.Unmarshal(b, back); err != nil {
					t.Fatalf("%T #%d %s Unmarshal: %v\n%s", orig, i, c.ContentType(), err, b)
				}
				if !proto.Equal(orig, back) {
					t.Fatalf("%T #%d %s round trip differs:\n%s", orig, i, c.ContentType(), b)
				}
			}
		}
	}
}

func FuzzJSONUnmarshal(f *testing.F) {
	seeds := []string{
		mesosGoSubscribe,
		`{"framework_id":{"value":"f"},"type":"SUPPRESS"}`,
		`{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"S0"},"task_id":{"value":"t"},"uuid":"a6e4EJ2tEdGAtADAT9QwyA=="}}`,
		`{"accept":{"operations":[{"launch":{"task_infos":[{"name":"t","limits":{"cpus":{"value":"Infinity"}},"command":{"uris":null}}]}}]}}`,
		`{"subscribe":{"framework_info":{"user":"u","name":"n","offer_filters":{"*":{"min_allocatable_resources":{"quantities":[{"quantities":{"cpus":{"value":1}}}]}}}}}}`,
		`{"x":[[[[{"y":"\ud83d\ude00"}]]]],"type":3}`,
		`{"reconcile":{"tasks":[{"task_id":{"value":"t"}},null]},"type":"RECONCILE"}`,
		`{"subscribe":{"framework_info":{"user":"u","name":"n","failover_timeout":"1e308"}}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	b, _ := JSON.Marshal(offersEvent(2))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var c scheduler.Call
		if err := JSON.Unmarshal(data, &c); err != nil {
			return
		}
		// Anything accepted must survive our own encoding unchanged.
		out, err := JSON.Marshal(&c)
		if err != nil {
			t.Fatalf("Marshal of decoded input: %v", err)
		}
		var back scheduler.Call
		if err := JSON.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		if !proto.Equal(&c, &back) {
			t.Fatalf("re-decode differs:\n%s", out)
		}
		var ev scheduler.Event
		_ = JSON.Unmarshal(data, &ev)
	})
}

func BenchmarkOffersEvent(b *testing.B) {
	ev := offersEvent(10)
	jsonBytes, _ := JSON.Marshal(ev)
	pbBytes, _ := Protobuf.Marshal(ev)
	jc := JSON.(JSONCodec)
	b.Run("json/marshal", func(b *testing.B) {
		b.SetBytes(int64(len(jsonBytes)))
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = jc.MarshalAppend(buf[:0], ev)
		}
	})
	b.Run("json/unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(jsonBytes)))
		b.ReportAllocs()
		for b.Loop() {
			var m scheduler.Event
			if err := JSON.Unmarshal(jsonBytes, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf/marshal", func(b *testing.B) {
		b.SetBytes(int64(len(pbBytes)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Protobuf.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf/unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(pbBytes)))
		b.ReportAllocs()
		for b.Loop() {
			var m scheduler.Event
			if err := Protobuf.Unmarshal(pbBytes, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSubscribeCall(b *testing.B) {
	in := []byte(mesosGoSubscribe)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var c scheduler.Call
		if err := JSON.Unmarshal(in, &c); err != nil {
			b.Fatal(err)
		}
	}
}
