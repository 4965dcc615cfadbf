package codec

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/durationpb"
)

func mustJSON(t testing.TB, m proto.Message) string {
	t.Helper()
	b, err := JSON.Marshal(m)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return string(b)
}

func mustDecode[T any, P interface {
	*T
	proto.Message
}](t testing.TB, in string) P {
	t.Helper()
	var m P = new(T)
	if err := JSON.Unmarshal([]byte(in), m); err != nil {
		t.Fatalf("Unmarshal(%s): %v", in, err)
	}
	return m
}

func assertEqual(t testing.TB, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("messages differ:\n got: %v\nwant: %v", got, want)
	}
}

// The SUBSCRIBE body example-scheduler sends (mesos-api.md §1.9).
const mesosGoSubscribe = `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"example","failover_timeout":3.6e+06,"checkpoint":true,"role":"*","capabilities":[{"type":"RESERVATION_REFINEMENT"}],"offer_filters":null}}}`

func TestJSONMesosGoSubscribe(t *testing.T) {
	got := mustDecode[scheduler.Call](t, mesosGoSubscribe)
	want := &scheduler.Call{
		Type: scheduler.Call_SUBSCRIBE.Enum(),
		Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: &mesos.FrameworkInfo{
			User:            proto.String("root"),
			Name:            proto.String("example"),
			FailoverTimeout: proto.Float64(3600000),
			Checkpoint:      proto.Bool(true),
			Role:            proto.String("*"),
			Capabilities: []*mesos.FrameworkInfo_Capability{
				{Type: mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT.Enum()},
			},
		}},
	}
	assertEqual(t, got, want)
	if got.GetSubscribe().GetFrameworkInfo().GetOfferFilters() != nil {
		t.Fatal("offer_filters: null must leave the map unset")
	}
	// What we would write for the same call: the keys in declaration order,
	// the double with stout's decimal point.
	const golden = `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"example","failover_timeout":3600000.0,"checkpoint":true,"role":"*","capabilities":[{"type":"RESERVATION_REFINEMENT"}]}}}`
	if out := mustJSON(t, got); out != golden {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, golden)
	}
}

func TestJSONExplicitNulls(t *testing.T) {
	const in = `{"framework_id":{"value":"fw-0000"},"type":"ACCEPT","accept":{"offer_ids":[{"value":"O1"},null],` +
		`"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"S1"},` +
		`"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1},"reservations":null,"role":null}],` +
		`"command":{"value":"echo hi","uris":null,"environment":null,"shell":true},"limits":null,"labels":null}]}}],` +
		`"filters":{"refuse_seconds":5}}}`
	got := mustDecode[scheduler.Call](t, in)
	want := &scheduler.Call{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("fw-0000")},
		Type:        scheduler.Call_ACCEPT.Enum(),
		Accept: &scheduler.Call_Accept{
			OfferIds: []*mesos.OfferID{{Value: proto.String("O1")}},
			Operations: []*mesos.Offer_Operation{{
				Type: mesos.Offer_Operation_LAUNCH.Enum(),
				Launch: &mesos.Offer_Operation_Launch{TaskInfos: []*mesos.TaskInfo{{
					Name:    proto.String("t"),
					TaskId:  &mesos.TaskID{Value: proto.String("t1")},
					AgentId: &mesos.AgentID{Value: proto.String("S1")},
					Resources: []*mesos.Resource{{
						Name:   proto.String("cpus"),
						Type:   mesos.Value_SCALAR.Enum(),
						Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.1)},
					}},
					Command: &mesos.CommandInfo{Value: proto.String("echo hi"), Shell: proto.Bool(true)},
				}}},
			}},
			Filters: &mesos.Filters{RefuseSeconds: proto.Float64(5)},
		},
	}
	assertEqual(t, got, want)
}

func TestJSONBareCalls(t *testing.T) {
	for _, typ := range []string{"SUPPRESS", "TEARDOWN", "REVIVE"} {
		got := mustDecode[scheduler.Call](t, `{"framework_id":{"value":"f"},"type":"`+typ+`"}`)
		if got.GetType().String() != typ || got.Suppress != nil || got.Revive != nil {
			t.Fatalf("%s: got %v", typ, got)
		}
		const golden = `{"framework_id":{"value":"f"},"type":"%s"}`
		if out := mustJSON(t, got); out != strings.Replace(golden, "%s", typ, 1) {
			t.Fatalf("%s: Marshal %s", typ, out)
		}
	}
}

func TestJSONAcknowledge(t *testing.T) {
	uuid := []byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	const in = `{"framework_id":{"value":"f"},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"S0"},"task_id":{"value":"t"},"uuid":"a6e4EJ2tEdGAtADAT9QwyA=="}}`
	got := mustDecode[scheduler.Call](t, in)
	if !bytes.Equal(got.GetAcknowledge().GetUuid(), uuid) {
		t.Fatalf("uuid = %x", got.GetAcknowledge().GetUuid())
	}
	if out := mustJSON(t, got); out != in {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, in)
	}
	// Unpadded and URL-safe forms of the same bytes are accepted too.
	for _, enc := range []string{"a6e4EJ2tEdGAtADAT9QwyA", "a6e4EJ2tEdGAtADAT9QwyA==", "a6e4EJ2tEdGAtADAT9QwyA"} {
		m := mustDecode[scheduler.Call_Acknowledge](t, `{"agent_id":{"value":"S0"},"task_id":{"value":"t"},"uuid":"`+enc+`"}`)
		if !bytes.Equal(m.GetUuid(), uuid) {
			t.Fatalf("%s decoded to %x", enc, m.GetUuid())
		}
	}
	m := mustDecode[mesos.UUID](t, `{"value":"-_8"}`) // URL alphabet: 0xfb 0xff
	if !bytes.Equal(m.GetValue(), []byte{0xfb, 0xff}) {
		t.Fatalf("url-safe decoded to %x", m.GetValue())
	}
}

func TestJSONUpdateEventGolden(t *testing.T) {
	ev := &scheduler.Event{
		Type: scheduler.Event_UPDATE.Enum(),
		Update: &scheduler.Event_Update{Status: &mesos.TaskStatus{
			TaskId:          &mesos.TaskID{Value: proto.String("web/1")},
			State:           mesos.TaskState_TASK_RUNNING.Enum(),
			Message:         proto.String("ok \"quoted\"\n"),
			Source:          mesos.TaskStatus_SOURCE_EXECUTOR.Enum(),
			AgentId:         &mesos.AgentID{Value: proto.String("S1")},
			Timestamp:       proto.Float64(1712345678.123456),
			Uuid:            []byte("0123456789abcdef"),
			Healthy:         proto.Bool(false),
			UnreachableTime: &mesos.TimeInfo{Nanoseconds: proto.Int64(1712345678123456789)},
		}},
	}
	const golden = `{"type":"UPDATE","update":{"status":{"task_id":{"value":"web\/1"},"state":"TASK_RUNNING",` +
		`"message":"ok \"quoted\"\n","source":"SOURCE_EXECUTOR","agent_id":{"value":"S1"},` +
		`"timestamp":1712345678.123456,"uuid":"MDEyMzQ1Njc4OWFiY2RlZg==","healthy":false,` +
		`"unreachable_time":{"nanoseconds":1712345678123456789}}}}`
	out := mustJSON(t, ev)
	if out != golden {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, golden)
	}
	assertEqual(t, mustDecode[scheduler.Event](t, out), ev)
}

func offersEvent(n int) *scheduler.Event {
	ev := &scheduler.Event{Type: scheduler.Event_OFFERS.Enum(), Offers: &scheduler.Event_Offers{}}
	for i := range n {
		id := string(rune('0' + i%10))
		ev.Offers.Offers = append(ev.Offers.Offers, &mesos.Offer{
			Id:          &mesos.OfferID{Value: proto.String("5f8a-O" + id)},
			FrameworkId: &mesos.FrameworkID{Value: proto.String("5f8a-0000")},
			AgentId:     &mesos.AgentID{Value: proto.String("5f8a-S" + id)},
			Hostname:    proto.String("agent" + id + ".example.com"),
			Url: &mesos.URL{
				Scheme:  proto.String("http"),
				Address: &mesos.Address{Hostname: proto.String("agent" + id), Ip: proto.String("10.0.0." + id), Port: proto.Int32(5051)},
				Path:    proto.String("/slave(1)"),
			},
			Resources: []*mesos.Resource{
				{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(3.9)}},
				{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(14845)}},
				{Name: proto.String("disk"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(35164)}},
				{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []*mesos.Value_Range{
					{Begin: proto.Uint64(31000), End: proto.Uint64(31999)}, {Begin: proto.Uint64(32500), End: proto.Uint64(32600)},
				}}},
				{
					Name: proto.String("gpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(1)},
					AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto.String("ml")},
					Reservations: []*mesos.Resource_ReservationInfo{
						{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String("ml")},
					},
				},
			},
			Attributes: []*mesos.Attribute{
				{Name: proto.String("rack"), Type: mesos.Value_TEXT.Enum(), Text: &mesos.Value_Text{Value: proto.String("r1")}},
			},
			AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto.String("*")},
		})
	}
	return ev
}

func TestJSONOffersEventGolden(t *testing.T) {
	ev := offersEvent(1)
	const golden = `{"type":"OFFERS","offers":{"offers":[{"id":{"value":"5f8a-O0"},"framework_id":{"value":"5f8a-0000"},` +
		`"agent_id":{"value":"5f8a-S0"},"hostname":"agent0.example.com",` +
		`"url":{"scheme":"http","address":{"hostname":"agent0","ip":"10.0.0.0","port":5051},"path":"\/slave(1)"},` +
		`"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":3.9}},` +
		`{"name":"mem","type":"SCALAR","scalar":{"value":14845.0}},` +
		`{"name":"disk","type":"SCALAR","scalar":{"value":35164.0}},` +
		`{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31999},{"begin":32500,"end":32600}]}},` +
		`{"name":"gpus","type":"SCALAR","scalar":{"value":1.0},"allocation_info":{"role":"ml"},"reservations":[{"type":"STATIC","role":"ml"}]}],` +
		`"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}],"allocation_info":{"role":"*"}}]}}`
	out := mustJSON(t, ev)
	if out != golden {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, golden)
	}
	assertEqual(t, mustDecode[scheduler.Event](t, out), ev)
}

func TestJSONDeclarationOrder(t *testing.T) {
	// Call declares accept_inverse_offers (13) before revive (15) and kill
	// (6); stout walks the descriptor, so the output follows the .proto.
	c := &scheduler.Call{
		Kill:                &scheduler.Call_Kill{TaskId: &mesos.TaskID{Value: proto.String("t")}},
		Revive:              &scheduler.Call_Revive{},
		AcceptInverseOffers: &scheduler.Call_AcceptInverseOffers{},
		FrameworkId:         &mesos.FrameworkID{Value: proto.String("f")},
	}
	const golden = `{"framework_id":{"value":"f"},"accept_inverse_offers":{},"revive":{},"kill":{"task_id":{"value":"t"}}}`
	if out := mustJSON(t, c); out != golden {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, golden)
	}
}

func TestJSONIntegers(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{`{"nanoseconds":1712345678123456789}`, 1712345678123456789},
		{`{"nanoseconds":"1712345678123456789"}`, 1712345678123456789}, // quoted int64 accepted
		{`{"nanoseconds":-9223372036854775808}`, math.MinInt64},
		{`{"nanoseconds":"9223372036854775807"}`, math.MaxInt64},
		{`{"nanoseconds":1e3}`, 1000},
		{`{"nanoseconds":3.0}`, 3},
		{`{"nanoseconds":"-0"}`, 0},
		{`{"nanoseconds":12.5e1}`, 125},
	}
	for _, tt := range tests {
		got := mustDecode[mesos.TimeInfo](t, tt.in)
		if got.GetNanoseconds() != tt.want {
			t.Errorf("%s: got %d, want %d", tt.in, got.GetNanoseconds(), tt.want)
		}
	}
	// Written unquoted, whatever the magnitude.
	if out := mustJSON(t, &mesos.TimeInfo{Nanoseconds: proto.Int64(math.MinInt64)}); out != `{"nanoseconds":-9223372036854775808}` {
		t.Fatalf("Marshal: %s", out)
	}
	r := mustDecode[mesos.Value_Range](t, `{"begin":"18446744073709551615","end":0}`)
	if r.GetBegin() != math.MaxUint64 {
		t.Fatalf("uint64 max: %d", r.GetBegin())
	}
	if out := mustJSON(t, r); out != `{"begin":18446744073709551615,"end":0}` {
		t.Fatalf("Marshal: %s", out)
	}
}

func TestJSONDoubles(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{`{"value":"Infinity"}`, math.Inf(1)},
		{`{"value":"-Infinity"}`, math.Inf(-1)},
		{`{"value":"0.25"}`, 0.25},
		{`{"value":-1.5e-3}`, -0.0015},
		{`{"value":5}`, 5},
	}
	for _, tt := range tests {
		got := mustDecode[mesos.Value_Scalar](t, tt.in)
		if got.GetValue() != tt.want {
			t.Errorf("%s: got %v, want %v", tt.in, got.GetValue(), tt.want)
		}
	}
	if v := mustDecode[mesos.Value_Scalar](t, `{"value":"NaN"}`).GetValue(); !math.IsNaN(v) {
		t.Fatalf("NaN decoded to %v", v)
	}
	for f, want := range map[float64]string{
		math.Inf(1): `{"value":"Infinity"}`, math.Inf(-1): `{"value":"-Infinity"}`, math.NaN(): `{"value":"NaN"}`,
	} {
		if out := mustJSON(t, &mesos.Value_Scalar{Value: proto.Float64(f)}); out != want {
			t.Errorf("%v: %s, want %s", f, out, want)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		f    float64
		bits int
		want string
	}{
		{15, 64, "15.0"},
		{0, 64, "0.0"},
		{math.Copysign(0, -1), 64, "-0.0"},
		{0.1, 64, "0.1"},
		{3.9, 64, "3.9"},
		{0.30000000000000004, 64, "0.30000000000000004"}, // Mesos would print 0.3 and lose the value
		{3.6e6, 64, "3600000.0"},
		{1e20, 64, "100000000000000000000.0"},
		{1e21, 64, "1e+21"},
		{1e-7, 64, "1e-7"},
		{1.5e-300, 64, "1.5e-300"},
		{math.MaxFloat64, 64, "1.7976931348623157e+308"},
		{float64(float32(0.1)), 32, "0.1"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.f, tt.bits)); got != tt.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestJSONTaskInfoLimits(t *testing.T) {
	const in = `{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"limits":{"mem":{"value":256},"cpus":{"value":"Infinity"},"gpus":null}}`
	got := mustDecode[mesos.TaskInfo](t, in)
	lim := got.GetLimits()
	if len(lim) != 2 || !math.IsInf(lim["cpus"].GetValue(), 1) || lim["mem"].GetValue() != 256 {
		t.Fatalf("limits = %v", lim)
	}
	const golden = `{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"limits":{"cpus":{"value":"Infinity"},"mem":{"value":256.0}}}`
	if out := mustJSON(t, got); out != golden {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, golden)
	}
	// A map value missing its required field is named by key.
	err := JSON.Unmarshal([]byte(`{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"limits":{"cpus":{}}}`), &mesos.TaskInfo{})
	if err == nil || !strings.Contains(err.Error(), `limits["cpus"].value`) {
		t.Fatalf("err = %v", err)
	}
}

func TestJSONEnums(t *testing.T) {
	// By number.
	if got := mustDecode[scheduler.Call](t, `{"type":3}`); got.GetType() != scheduler.Call_ACCEPT {
		t.Fatalf("type = %v", got.GetType())
	}
	// Unknown name or number on an optional enum: dropped.
	for _, in := range []string{`{"type":"NO_SUCH_CALL"}`, `{"type":999}`} {
		if got := mustDecode[scheduler.Call](t, in); got.Type != nil {
			t.Fatalf("%s: type = %v, want unset", in, got.GetType())
		}
	}
	// Repeated enum: unknown names dropped, known kept.
	ci := mustDecode[mesos.CapabilityInfo](t, `{"capabilities":["CHOWN","NOT_A_CAP",null,"KILL"]}`)
	if len(ci.GetCapabilities()) != 2 {
		t.Fatalf("capabilities = %v", ci.GetCapabilities())
	}
	// Unknown name on a required enum: an error naming the field.
	err := JSON.Unmarshal([]byte(`{"name":"cpus","type":"BOGUS"}`), &mesos.Resource{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "type") || !strings.Contains(err.Error(), "BOGUS") {
		t.Fatalf("err = %v", err)
	}
}

func TestJSONNamesAndUnknownKeys(t *testing.T) {
	got := mustDecode[scheduler.Call](t, `{"frameworkId":{"value":"f"},"type":"DECLINE","decline":{"offerIds":[{"value":"o"}]},`+
		`"unknown":{"deep":[1,2,{"x":[true,false,null,"s\u0041"]}]},"alsoUnknown":-1.5e10}`)
	want := &scheduler.Call{
		FrameworkId: &mesos.FrameworkID{Value: proto.String("f")},
		Type:        scheduler.Call_DECLINE.Enum(),
		Decline:     &scheduler.Call_Decline{OfferIds: []*mesos.OfferID{{Value: proto.String("o")}}},
	}
	assertEqual(t, got, want)
}

func TestJSONScalarForRepeated(t *testing.T) {
	// stout appends a lone value given for a repeated field.
	got := mustDecode[mesos.CommandInfo](t, `{"arguments":"-c","uris":{"value":"http://x"}}`)
	if len(got.GetArguments()) != 1 || got.GetArguments()[0] != "-c" || got.GetUris()[0].GetValue() != "http://x" {
		t.Fatalf("got %v", got)
	}
}

func TestJSONStrings(t *testing.T) {
	got := mustDecode[mesos.Label](t, `{"key":"a\u00e9\ud83d\ude00\/\"\\\b\f\n\r\t","value":"é😀 raw \ud800 lone"}`)
	if got.GetKey() != "aé😀/\"\\\b\f\n\r\t" {
		t.Fatalf("key = %q", got.GetKey())
	}
	if got.GetValue() != "é😀 raw \uFFFD lone" {
		t.Fatalf("value = %q", got.GetValue())
	}
	const golden = `{"key":"aé😀\/\"\\\b\f\n\r\t","value":"é😀 raw \ufffd lone"}`
	// U+FFFD is valid UTF-8, so it is written raw; control bytes and DEL
	// are \u escapes, as stout writes them.
	if out := mustJSON(t, got); out != strings.Replace(golden, `\ufffd`, "\uFFFD", 1) {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, golden)
	}
	if out := mustJSON(t, &mesos.Label{Key: proto.String("\x01\x7f<>&\xff")}); out != `{"key":"\u0001\u007f<>&\ufffd"}` {
		t.Fatalf("Marshal: %s", out)
	}
}

func TestJSONErrors(t *testing.T) {
	tests := []struct {
		name, in string
		msg      string // substring of the error
	}{
		{"empty body", ``, "expected a JSON object"},
		{"whitespace body", " \n", "expected a JSON object"},
		{"array body", `[]`, "expected a JSON object, got an array"},
		{"string body", `"x"`, "expected a JSON object"},
		{"null body", `null`, "expected a JSON object"},
		{"trailing garbage", `{"type":"SUPPRESS"} x`, "unexpected data after the JSON object"},
		{"two objects", `{}{}`, "unexpected data"},
		{"unterminated", `{"type":"SUPPRESS"`, "unterminated object"},
		{"bad separator", `{"type":"SUPPRESS";}`, "expected ',' or '}'"},
		{"trailing comma", `{"type":"SUPPRESS",}`, "expected an object key"},
		{"bad literal", `{"x":tru}`, "invalid literal"},
		{"bad token", `{"x":@}`, "unexpected"},
		{"bad number", `{"x":01}`, "expected ',' or '}'"},
		{"bad escape", `{"x":"\q"}`, "invalid escape"},
		{"control char", "{\"x\":\"a\x01\"}", "control character"},
		{"unterminated string", `{"x":"abc`, "unterminated string"},
		{"fraction for int64", `{"framework_id":{"value":"f"},"type":"SUPPRESS","subscribe":{"framework_info":{"user":"u","name":"n","failover_timeout":{}}}}`, "subscribe.framework_info.failover_timeout: expected a number"},
		{"string for enum list elem", `{"accept":{"offer_ids":[{"value":"o"},{"value":7}]}}`, "accept.offer_ids[1].value: expected a string"},
		{"object for string", `{"framework_id":{"value":{}}}`, "framework_id.value: expected a string"},
		{"bool as string", `{"subscribe":{"framework_info":{"user":"u","name":"n","checkpoint":"true"}}}`, "expected true or false"},
		{"array for singular", `{"framework_id":[]}`, "expected an object"},
		{"invalid base64", `{"acknowledge":{"uuid":"!!!"}}`, "acknowledge.uuid: invalid base64"},
		{"missing required", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}`, "missing required fields: subscribe.framework_info.user"},
		{"missing required in list", `{"accept":{"offer_ids":[{"value":"o"},{}],"operations":[{"launch":{"task_infos":[{"name":"t","task_id":{"value":"t"}}]}}]}}`,
			"missing required fields: accept.offer_ids[1].value, accept.operations[0].launch.task_infos[0].agent_id"},
		{"map wants object", `{"subscribe":{"framework_info":{"user":"u","name":"n","offer_filters":[]}}}`, "expected an object for a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := JSON.Unmarshal([]byte(tt.in), &scheduler.Call{})
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func TestJSONIntegerErrors(t *testing.T) {
	tests := []struct {
		in, msg string
	}{
		{`{"nanoseconds":1.5}`, "not an integer"},
		{`{"nanoseconds":"1.5"}`, "not an integer"},
		{`{"nanoseconds":9223372036854775808}`, "out of range"},
		{`{"nanoseconds":-9223372036854775809}`, "out of range"},
		{`{"nanoseconds":1e19}`, "out of range"},
		{`{"nanoseconds":1e999999999999}`, "out of range"},
		{`{"nanoseconds":1e-999999999999}`, "not an integer"},
		{`{"nanoseconds":"12abc"}`, "expected an integer"},
		{`{"nanoseconds":""}`, "expected an integer"},
		{`{"nanoseconds":" 1"}`, "expected an integer"},
		{`{"nanoseconds":true}`, "expected a number"},
	}
	for _, tt := range tests {
		err := JSON.Unmarshal([]byte(tt.in), &mesos.TimeInfo{})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "nanoseconds") {
			t.Errorf("%s: err = %v, want %q", tt.in, err, tt.msg)
		}
	}
	for _, in := range []string{`{"port":2147483648}`, `{"port":-2147483649}`} {
		if err := JSON.Unmarshal([]byte(in), &mesos.Address{}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("%s: err = %v", in, err)
		}
	}
	for _, in := range []string{`{"begin":-1,"end":1}`, `{"begin":18446744073709551616,"end":1}`} {
		if err := JSON.Unmarshal([]byte(in), &mesos.Value_Range{}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("%s: err = %v", in, err)
		}
	}
	if err := JSON.Unmarshal([]byte(`{"value":1e400}`), &mesos.Value_Scalar{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("1e400: err = %v", err)
	}
	if err := JSON.Unmarshal([]byte(`{"value":"Inf"}`), &mesos.Value_Scalar{}); !errors.Is(err, ErrMalformed) {
		t.Errorf(`"Inf": err = %v`, err)
	}
}

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

func TestJSONDepthLimit(t *testing.T) {
	c := NewJSON(JSONOptions{MaxDepth: 10})
	// The top-level object is depth 1; nine arrays inside it reach 10.
	if err := c.Unmarshal([]byte(`{"x":`+nested("[", "]", 9)+`}`), &scheduler.Call{}); err != nil {
		t.Fatalf("depth 10: %v", err)
	}
	err := c.Unmarshal([]byte(`{"x":`+nested("[", "]", 10)+`}`), &scheduler.Call{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "deeper than 10") {
		t.Fatalf("depth 11: %v", err)
	}
	// The default, 200, like Mesos. A bomb of a million levels fails fast.
	bomb := `{"x":` + nested("[", "]", 1_000_000) + `}`
	if err := JSON.Unmarshal([]byte(bomb), &scheduler.Call{}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "deeper than 200") {
		t.Fatalf("bomb: %v", err)
	}
	// Known fields count too: ContainerID.parent nests messages.
	deep := strings.Repeat(`{"value":"c","parent":`, 200) + `{"value":"c"}` + strings.Repeat("}", 200)
	if err := JSON.Unmarshal([]byte(deep), &mesos.ContainerID{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("201 nested messages: %v", err)
	}
	ok := strings.Repeat(`{"value":"c","parent":`, 199) + `{"value":"c"}` + strings.Repeat("}", 199)
	if err := JSON.Unmarshal([]byte(ok), &mesos.ContainerID{}); err != nil {
		t.Fatalf("200 nested messages: %v", err)
	}
}

func TestJSONResetsTarget(t *testing.T) {
	c := &scheduler.Call{Type: scheduler.Call_ACCEPT.Enum()}
	if err := JSON.Unmarshal([]byte(`{}`), c); err != nil || c.Type != nil {
		t.Fatalf("Unmarshal did not reset: %v, %v", c, err)
	}
	if err := JSON.Unmarshal([]byte(`{}`), nil); err == nil || errors.Is(err, ErrMalformed) {
		t.Fatalf("nil target: %v", err)
	}
	var nilCall *scheduler.Call
	if err := JSON.Unmarshal([]byte(`{}`), nilCall); err == nil {
		t.Fatal("typed nil target accepted")
	}
}

func TestJSONEmitDefaults(t *testing.T) {
	c := NewJSON(JSONOptions{EmitDefaults: true})
	out, err := c.Marshal(&mesos.CommandInfo{Value: proto.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	// shell has [default = true]; stout writes it even when unset.
	if string(out) != `{"shell":true,"value":"x"}` {
		t.Fatalf("EmitDefaults: %s", out)
	}
	// Resource.role has a default but is deprecated: never written unset.
	out, _ = c.Marshal(&mesos.Resource{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum()})
	if string(out) != `{"name":"cpus","type":"SCALAR"}` {
		t.Fatalf("deprecated default: %s", out)
	}
	if out := mustJSON(t, &mesos.CommandInfo{Value: proto.String("x")}); out != `{"value":"x"}` {
		t.Fatalf("default codec: %s", out)
	}
}

// Well-known types and descriptor messages are ordinary messages here.
func TestJSONGenericMessages(t *testing.T) {
	d := durationpb.New(1500 * 1e6)
	if out := mustJSON(t, d); out != `{"seconds":1,"nanos":500000000}` {
		t.Fatalf("Duration: %s", out)
	}
	np := mustDecode[descriptorpb.UninterpretedOption_NamePart](t, `{"name_part":"a","is_extension":false}`)
	if np.GetNamePart() != "a" {
		t.Fatalf("NamePart: %v", np)
	}
	err := JSON.Unmarshal([]byte(`{"name_part":"a"}`), &descriptorpb.UninterpretedOption_NamePart{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "missing required fields: is_extension") {
		t.Fatalf("err = %v", err)
	}
	// Repeated scalars, bytes, groups of kinds in one real message.
	fd := &descriptorpb.FileDescriptorProto{
		Name:             proto.String("a.proto"),
		Dependency:       []string{"b.proto", "c.proto"},
		PublicDependency: []int32{0, -1},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("M"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("f"), Number: proto.Int32(1),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type:  descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum(),
			}},
		}},
		Options: &descriptorpb.FileOptions{GoPackage: proto.String("x/y")},
	}
	out := mustJSON(t, fd)
	const golden = `{"name":"a.proto","dependency":["b.proto","c.proto"],"public_dependency":[0,-1],` +
		`"message_type":[{"name":"M","field":[{"name":"f","number":1,"label":"LABEL_OPTIONAL","type":"TYPE_INT64"}]}],` +
		`"options":{"go_package":"x\/y"}}`
	if out != golden {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, golden)
	}
	back := mustDecode[descriptorpb.FileDescriptorProto](t, out)
	if !proto.Equal(back, fd) {
		t.Fatalf("round trip: %v", back)
	}
}
