package codec

import (
	"errors"
	"strings"
	"testing"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

func TestProtobufRoundTrip(t *testing.T) {
	ev := offersEvent(3)
	b, err := Protobuf.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got scheduler.Event
	if err := Protobuf.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	assertEqual(t, &got, ev)
	// MarshalAppend keeps what the buffer already holds.
	pc := Protobuf.(ProtobufCodec)
	out, err := pc.MarshalAppend([]byte("hdr"), ev)
	if err != nil || string(out[:3]) != "hdr" || len(out) != 3+len(b) {
		t.Fatalf("MarshalAppend: %d bytes, %v", len(out), err)
	}
}

func TestProtobufMissingRequired(t *testing.T) {
	// Encode without the check, as a client with a bug would.
	partial := &scheduler.Call{
		Type: scheduler.Call_SUBSCRIBE.Enum(),
		Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: &mesos.FrameworkInfo{
			Name: proto.String("msh"),
		}},
	}
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(partial)
	if err != nil {
		t.Fatal(err)
	}
	err = Protobuf.Unmarshal(b, &scheduler.Call{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "missing required fields: subscribe.framework_info.user") {
		t.Fatalf("err = %v", err)
	}
	// mesosd never sends an incomplete message.
	if _, err := Protobuf.Marshal(partial); err == nil {
		t.Fatal("Marshal accepted a message with a missing required field")
	}
}

func TestProtobufManyMissingIsBounded(t *testing.T) {
	c := &scheduler.Call{Accept: &scheduler.Call_Accept{}}
	for range 50 {
		c.Accept.OfferIds = append(c.Accept.OfferIds, &mesos.OfferID{})
	}
	b, _ := proto.MarshalOptions{AllowPartial: true}.Marshal(c)
	err := Protobuf.Unmarshal(b, &scheduler.Call{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "accept.offer_ids[9].value and 40 more") {
		t.Fatalf("err = %v", err)
	}
}

func chain(n int) *mesos.ContainerID {
	id := &mesos.ContainerID{Value: proto.String("c")}
	for range n - 1 {
		id = &mesos.ContainerID{Value: proto.String("c"), Parent: id}
	}
	return id
}

func TestProtobufRecursionLimit(t *testing.T) {
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{DefaultRecursionLimit, true}, {DefaultRecursionLimit + 2, false}} {
		b, err := proto.Marshal(chain(tt.depth))
		if err != nil {
			t.Fatal(err)
		}
		err = Protobuf.Unmarshal(b, &mesos.ContainerID{})
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Fatalf("depth %d: err = %v", tt.depth, err)
		}
	}
	loose := NewProtobuf(ProtobufOptions{RecursionLimit: 1000})
	b, _ := proto.Marshal(chain(500))
	if err := loose.Unmarshal(b, &mesos.ContainerID{}); err != nil {
		t.Fatalf("RecursionLimit 1000: %v", err)
	}
}

func TestProtobufGarbage(t *testing.T) {
	for _, in := range [][]byte{{0xff}, {0x0a, 0x05, 'a'}, {0x12, 0x80}} {
		if err := Protobuf.Unmarshal(in, &scheduler.Call{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: err = %v", in, err)
		}
	}
	if err := Protobuf.Unmarshal(nil, (*scheduler.Call)(nil)); err == nil || errors.Is(err, ErrMalformed) {
		t.Fatalf("nil target: %v", err)
	}
}
