package master

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
)

// operatorCall posts an operator Call with codec c and decodes the Response.
func operatorCall(t *testing.T, tm *testMaster, c codec.Codec, call *masterpb.Call) (int, http.Header, *masterpb.Response) {
	t.Helper()
	body, err := c.Marshal(call)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, tm.url+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", c.ContentType())
	req.Header.Set("Accept", c.ContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || len(b) == 0 {
		return resp.StatusCode, resp.Header, nil
	}
	var r masterpb.Response
	if err := c.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode %s response: %v (%q)", call.GetType(), err, b)
	}
	return resp.StatusCode, resp.Header, &r
}

func TestOperatorAPI(t *testing.T) {
	for _, c := range []codec.Codec{codec.JSON, codec.Protobuf} {
		t.Run(c.ContentType(), func(t *testing.T) {
			tm := startMaster(t, testConfig(t))
			a := tm.addAgent(agentOpts{})
			s := tm.subscribe(c, frameworkInfo("op"))

			typ := func(tp masterpb.Call_Type) *masterpb.Call { return &masterpb.Call{Type: tp.Enum()} }
			code, hdr, r := operatorCall(t, tm, c, typ(masterpb.Call_GET_HEALTH))
			if code != 200 || !r.GetGetHealth().GetHealthy() || hdr.Get("Content-Type") != c.ContentType() {
				t.Fatalf("GET_HEALTH: %d %v %v", code, hdr, r)
			}
			_, _, r = operatorCall(t, tm, c, typ(masterpb.Call_GET_MASTER))
			if r.GetType() != masterpb.Response_GET_MASTER || r.GetGetMaster().GetMasterInfo().GetId() != tm.m.Info().GetId() {
				t.Fatalf("GET_MASTER: %v", r)
			}
			_, _, r = operatorCall(t, tm, c, typ(masterpb.Call_GET_AGENTS))
			if n := len(r.GetGetAgents().GetAgents()); n != 1 || r.GetGetAgents().GetAgents()[0].GetAgentInfo().GetId().GetValue() != a.id {
				t.Fatalf("GET_AGENTS: want agent %s, got %v", a.id, r)
			}
			_, _, r = operatorCall(t, tm, c, typ(masterpb.Call_GET_FRAMEWORKS))
			fws := r.GetGetFrameworks().GetFrameworks()
			if len(fws) != 1 || fws[0].GetFrameworkInfo().GetId().GetValue() != s.fid || !fws[0].GetConnected() {
				t.Fatalf("GET_FRAMEWORKS: want connected %s, got %v", s.fid, r)
			}
			_, _, r = operatorCall(t, tm, c, typ(masterpb.Call_GET_STATE))
			if r.GetType() != masterpb.Response_GET_STATE || len(r.GetGetState().GetGetAgents().GetAgents()) != 1 || len(r.GetGetState().GetGetFrameworks().GetFrameworks()) != 1 {
				t.Fatalf("GET_STATE: %v", r)
			}
			_, _, r = operatorCall(t, tm, c, typ(masterpb.Call_GET_METRICS))
			found := false
			for _, mt := range r.GetGetMetrics().GetMetrics() {
				if mt.GetName() == "master/elected" && mt.GetValue() == 1 {
					found = true
				}
			}
			if !found {
				t.Fatalf("GET_METRICS lacks master/elected=1: %v", r)
			}

			_, _, r = operatorCall(t, tm, c, typ(masterpb.Call_GET_OPERATIONS))
			if r.GetType() != masterpb.Response_GET_OPERATIONS || r.GetGetOperations() == nil || len(r.GetGetOperations().GetOperations()) != 0 {
				t.Fatalf("GET_OPERATIONS: %v, want an empty list", r)
			}
			_, _, r = operatorCall(t, tm, c, typ(masterpb.Call_GET_LOGGING_LEVEL))
			if r.GetType() != masterpb.Response_GET_LOGGING_LEVEL || r.GetGetLoggingLevel().Level == nil {
				t.Fatalf("GET_LOGGING_LEVEL: %v", r)
			}

			// Unsupported calls say so (501), and UNKNOWN is 501 as in Mesos.
			if code, _, _ := operatorCall(t, tm, c, typ(masterpb.Call_GROW_VOLUME)); code != http.StatusNotImplemented {
				t.Fatalf("unsupported call: got %d, want 501", code)
			}

			// TEARDOWN: 200 with no body and no Content-Type; the framework
			// becomes completed; teardown of an unknown ID is a 400.
			fid := s.fid
			teardown := func(id string) *masterpb.Call {
				return &masterpb.Call{Type: masterpb.Call_TEARDOWN.Enum(), Teardown: &masterpb.Call_Teardown{
					FrameworkId: &mesos.FrameworkID{Value: proto.String(id)},
				}}
			}
			code, hdr, _ = operatorCall(t, tm, c, teardown(fid))
			if code != 200 || hdr.Get("Content-Type") != "" {
				t.Fatalf("TEARDOWN: %d, Content-Type %q", code, hdr.Get("Content-Type"))
			}
			if _, completed := tm.stateFramework(fid); !completed {
				t.Fatalf("framework %s not completed after operator TEARDOWN", fid)
			}
			if code, _, _ := operatorCall(t, tm, c, teardown("no-such-framework")); code != http.StatusBadRequest {
				t.Fatalf("TEARDOWN of unknown framework: got %d, want 400", code)
			}
		})
	}
}

func TestOperatorAPINotAcceptable(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	code, _ := tm.post("/api/v1", map[string]string{"Content-Type": "application/json", "Accept": "text/plain"}, []byte(`{"type":"GET_HEALTH"}`))
	if code != http.StatusNotAcceptable {
		t.Fatalf("Accept: text/plain: got %d, want 406", code)
	}
	code, _ = tm.post("/api/v1", map[string]string{"Content-Type": "application/json"}, []byte(`{}`))
	if code != http.StatusBadRequest {
		t.Fatalf("call without type: got %d, want 400", code)
	}
}

// SET_LOGGING_LEVEL raises the log level for its duration, then the level
// the master started with comes back; GET_LOGGING_LEVEL follows.
func TestOperatorSetLoggingLevel(t *testing.T) {
	cfg := testConfig(t)
	cfg.LogLevel = new(slog.LevelVar) // info
	tm := startMaster(t, cfg)
	verbosity := func() uint32 {
		_, _, r := operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_GET_LOGGING_LEVEL.Enum()})
		return r.GetGetLoggingLevel().GetLevel()
	}
	if v := verbosity(); v != 0 {
		t.Fatalf("verbosity at info: %d, want 0", v)
	}
	set := func(level uint32, d time.Duration) int {
		code, _, _ := operatorCall(t, tm, codec.JSON, &masterpb.Call{Type: masterpb.Call_SET_LOGGING_LEVEL.Enum(),
			SetLoggingLevel: &masterpb.Call_SetLoggingLevel{Level: proto.Uint32(level),
				Duration: &mesos.DurationInfo{Nanoseconds: proto.Int64(int64(d))}}})
		return code
	}
	if code := set(1, 0); code != http.StatusBadRequest {
		t.Fatalf("SET_LOGGING_LEVEL with a zero duration: %d, want 400", code)
	}
	if code := set(1, 300*time.Millisecond); code != http.StatusOK {
		t.Fatalf("SET_LOGGING_LEVEL: %d", code)
	}
	if v := verbosity(); v != 1 || cfg.LogLevel.Level() != slog.LevelDebug {
		t.Fatalf("after SET_LOGGING_LEVEL 1: verbosity %d, level %v; want 1, debug", v, cfg.LogLevel.Level())
	}
	waitUntil(t, "the log level back to info", func() bool { return cfg.LogLevel.Level() == slog.LevelInfo })
	if v := verbosity(); v != 0 {
		t.Fatalf("verbosity after the duration: %d, want 0", v)
	}
}
