package compat

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// These are black-box checks of the scheduler endpoint's HTTP contract
// (mesos-api.md §1.1–1.2, client-quirks.md #6) with plain net/http. Request
// bodies are encoded with mesos-go's generated code, once per codec.

// rawClient never follows redirects and bounds every exchange.
var rawClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func schedulerURL() string { return "http://" + cluster.master + "/api/v1/scheduler" }

// encodeCall encodes a call with the codec's mesos-go encoder.
func encodeCall(t *testing.T, cc codecCase, c *scheduler.Call) []byte {
	t.Helper()
	b, err := cc.marshal(c)
	if err != nil {
		t.Fatalf("encode %s call as %s: %v", c.GetType(), cc.name, err)
	}
	return b
}

// post sends one request and returns the response with its body read. A
// 200 answer may be an endless SUBSCRIBE stream, so its body is not read
// (only closed): the tests that expect an error code must not hang when
// mesosd wrongly accepts the request.
func post(t *testing.T, method string, body []byte, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, schedulerURL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		fatalf(t, "%s /api/v1/scheduler: %v", method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp, ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp, strings.TrimSpace(string(b))
}

// expectStatus asserts the status code of a request and, when mention is
// not empty, that the error body mentions it (case-insensitive): a 400 for
// the wrong reason would hide a missing check.
func expectStatus(t *testing.T, want int, mention, method string, body []byte, header http.Header) *http.Response {
	t.Helper()
	resp, text := post(t, method, body, header)
	if resp.StatusCode != want {
		t.Errorf("%s with headers %v: got %s (body %q), want %d %s", method, header, resp.Status, text, want, http.StatusText(want))
	} else if mention != "" && !strings.Contains(strings.ToLower(text), strings.ToLower(mention)) {
		t.Errorf("%s with headers %v: %s with body %q; want the body to say why (mention %q)", method, header, resp.Status, text, mention)
	}
	return resp
}

// hdr builds a header; repeated keys give repeated header lines.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// subscribeCall is a minimal legacy-role SUBSCRIBE. failover_timeout is 0:
// closing the stream removes the framework.
func subscribeCall(name string) *scheduler.Call {
	return calls.Subscribe(frameworkInfo(name, false))
}

// rawStream is a SUBSCRIBE stream read by hand (RecordIO framing).
type rawStream struct {
	resp     *http.Response
	r        *bufio.Reader
	streamID string
	first    scheduler.Event
}

// rawSubscribe sends a SUBSCRIBE body with the given headers, expects 200
// and decodes the first event with the codec the answer should use. The
// stream is closed at the end of the test.
func rawSubscribe(t *testing.T, body []byte, cc codecCase, header http.Header) *rawStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, schedulerURL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	// No client timeout: the body is a stream. Header wait is bounded by
	// the transport; reads are bounded in readRecord.
	tr := &http.Transport{ResponseHeaderTimeout: 10 * time.Second, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fatalf(t, "SUBSCRIBE (%s): %v", cc.name, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		fatalf(t, "SUBSCRIBE (%s) with headers %v: %s %q, want 200", cc.name, header, resp.Status, b)
	}
	s := &rawStream{resp: resp, r: bufio.NewReader(resp.Body), streamID: resp.Header.Get("Mesos-Stream-Id")}
	rec := s.readRecord(t)
	if err := cc.unmarshal(rec, &s.first); err != nil {
		fatalf(t, "first SUBSCRIBE record is not a %s Event: %v (%q)", cc.name, err, rec)
	}
	return s
}

// readRecord reads one RecordIO record: "<decimal length>\n<bytes>".
func (s *rawStream) readRecord(t *testing.T) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		line, err := s.r.ReadString('\n')
		if err != nil {
			done <- result{nil, fmt.Errorf("reading record length: %w (read %q)", err, line)}
			return
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(line, "\n"), 10, 64)
		if err != nil || n == 0 || n > 16<<20 {
			done <- result{nil, fmt.Errorf("bad RecordIO length line %q", line)}
			return
		}
		b := make([]byte, n)
		_, err = io.ReadFull(s.r, b)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			fatalf(t, "SUBSCRIBE stream: %v", r.err)
		}
		return r.b
	case <-time.After(callTimeout):
		fatalf(t, "SUBSCRIBE stream: no record within %v", callTimeout)
		return nil
	}
}

func TestSchedulerHTTPContract(t *testing.T) {
	needCluster(t)
	for _, cc := range codecCases {
		t.Run(cc.name, func(t *testing.T) { httpContract(t, cc) })
	}
}

func httpContract(t *testing.T, cc codecCase) {
	ct := cc.contentType()
	sub := encodeCall(t, cc, subscribeCall("compat-http-"+cc.name))

	t.Run("415 content type with parameters", func(t *testing.T) {
		// Mesos compares Content-Type as an exact string.
		expectStatus(t, http.StatusUnsupportedMediaType, "", http.MethodPost, sub, hdr("Content-Type", ct+"; charset=utf-8", "Accept", ct))
	})
	t.Run("400 without content type", func(t *testing.T) {
		expectStatus(t, http.StatusBadRequest, "Content-Type", http.MethodPost, sub, hdr("Accept", ct))
	})
	t.Run("405 for GET", func(t *testing.T) {
		resp := expectStatus(t, http.StatusMethodNotAllowed, "", http.MethodGet, nil, hdr("Accept", ct))
		if got := resp.Header.Get("Allow"); got != "POST" {
			t.Errorf("405 response: Allow %q, want \"POST\"", got)
		}
	})
	t.Run("406 for SUBSCRIBE accepting text/plain", func(t *testing.T) {
		expectStatus(t, http.StatusNotAcceptable, "", http.MethodPost, sub, hdr("Content-Type", ct, "Accept", "text/plain"))
	})
	t.Run("400 for SUBSCRIBE with Mesos-Stream-Id", func(t *testing.T) {
		expectStatus(t, http.StatusBadRequest, "Mesos-Stream-Id", http.MethodPost, sub,
			hdr("Content-Type", ct, "Accept", ct, "Mesos-Stream-Id", "6f5a4b4c-2b0e-4b43-9a3c-4a8f3c1c2d11"))
	})
	t.Run("413 for a body over 4 MiB", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 5<<20)
		if cc.name == "json" {
			big = append(append([]byte(`{"type":"SUBSCRIBE","x":"`), big...), `"}`...)
		}
		expectStatus(t, http.StatusRequestEntityTooLarge, "", http.MethodPost, big, hdr("Content-Type", ct, "Accept", ct))
	})
	t.Run("400 for a JSON depth bomb", func(t *testing.T) {
		if cc.name != "json" {
			t.Skip("JSON only: the nesting bomb is a JSON parser hazard")
		}
		const depth = 100000
		bomb := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"bomb","labels":` +
			strings.Repeat(`{"labels":[`, depth) + strings.Repeat(`]}`, depth) + `}}}`
		expectStatus(t, http.StatusBadRequest, "", http.MethodPost, []byte(bomb), hdr("Content-Type", ct, "Accept", ct))
	})
	t.Run("400 for a non-SUBSCRIBE of an unknown framework", func(t *testing.T) {
		c := calls.Revive()
		c.FrameworkID = &mesos.FrameworkID{Value: "no-such-framework-0000"}
		expectStatus(t, http.StatusBadRequest, "Framework", http.MethodPost, encodeCall(t, cc, c),
			hdr("Content-Type", ct, "Accept", ct, "Mesos-Stream-Id", "6f5a4b4c-2b0e-4b43-9a3c-4a8f3c1c2d11"))
	})

	t.Run("SUBSCRIBE response headers", func(t *testing.T) {
		// mesos-go sends Accept twice (client-quirks.md #6); it needs
		// Content-Type equal to the codec and no Content-Length (else it
		// decodes the stream as a single object).
		s := rawSubscribe(t, encodeCall(t, cc, subscribeCall("compat-http-hdr-"+cc.name)), cc, hdr("Content-Type", ct, "Accept", ct, "Accept", ct))
		checkSubscribeResponse(t, s, ct)
	})
	t.Run("SUBSCRIBE negotiates over every Accept value", func(t *testing.T) {
		s := rawSubscribe(t, encodeCall(t, cc, subscribeCall("compat-http-acc-"+cc.name)), cc, hdr("Content-Type", ct, "Accept", "text/plain", "Accept", ct))
		checkSubscribeResponse(t, s, ct)
	})
	t.Run("SUBSCRIBE without Accept answers JSON", func(t *testing.T) {
		// Mesos checks JSON first: no Accept (or */*) gets JSON.
		s := rawSubscribe(t, encodeCall(t, cc, subscribeCall("compat-http-noacc-"+cc.name)), codecCases[1], hdr("Content-Type", ct))
		checkSubscribeResponse(t, s, "application/json")
	})

	t.Run("calls of a subscribed framework", func(t *testing.T) {
		s := rawSubscribe(t, encodeCall(t, cc, subscribeCall("compat-http-calls-"+cc.name)), cc, hdr("Content-Type", ct, "Accept", ct))
		fid := s.first.GetSubscribed().GetFrameworkID().GetValue()
		if fid == "" || s.streamID == "" {
			fatalf(t, "SUBSCRIBE: framework id %q, stream id %q; both must be set", fid, s.streamID)
		}
		withFramework := func(c *scheduler.Call) []byte {
			c.FrameworkID = &mesos.FrameworkID{Value: fid}
			return encodeCall(t, cc, c)
		}
		revive := withFramework(calls.Revive())
		t.Run("400 without Mesos-Stream-Id", func(t *testing.T) {
			expectStatus(t, http.StatusBadRequest, "Mesos-Stream-Id", http.MethodPost, revive, hdr("Content-Type", ct, "Accept", ct))
		})
		t.Run("400 with a wrong Mesos-Stream-Id", func(t *testing.T) {
			expectStatus(t, http.StatusBadRequest, "stream", http.MethodPost, revive,
				hdr("Content-Type", ct, "Accept", ct, "Mesos-Stream-Id", "6f5a4b4c-2b0e-4b43-9a3c-4a8f3c1c2d11"))
		})
		t.Run("202 with the stream's Mesos-Stream-Id", func(t *testing.T) {
			resp, text := post(t, http.MethodPost, revive, hdr("Content-Type", ct, "Accept", ct, "Mesos-Stream-Id", s.streamID))
			if resp.StatusCode != http.StatusAccepted || text != "" {
				t.Errorf("REVIVE: %s with body %q, want 202 and an empty body", resp.Status, text)
			}
		})
		t.Run("501 for type UNKNOWN", func(t *testing.T) {
			expectStatus(t, http.StatusNotImplemented, "", http.MethodPost, withFramework(&scheduler.Call{Type: scheduler.Call_UNKNOWN}),
				hdr("Content-Type", ct, "Accept", ct, "Mesos-Stream-Id", s.streamID))
		})
		t.Run("bare TEARDOWN, then re-SUBSCRIBE is refused in-band", func(t *testing.T) {
			// TEARDOWN has no sub-message (client-quirks.md #5).
			expectStatus(t, http.StatusAccepted, "", http.MethodPost, withFramework(&scheduler.Call{Type: scheduler.Call_TEARDOWN}),
				hdr("Content-Type", ct, "Accept", ct, "Mesos-Stream-Id", s.streamID))
			again := subscribeCall("compat-http-calls-" + cc.name)
			again.FrameworkID = &mesos.FrameworkID{Value: fid}
			again.Subscribe.FrameworkInfo.ID = again.FrameworkID
			// Mesos answers every accepted SUBSCRIBE with 200, the stream
			// headers (Content-Type, Mesos-Stream-Id) and then, here, an
			// ERROR event instead of SUBSCRIBED.
			r := rawSubscribe(t, encodeCall(t, cc, again), cc, hdr("Content-Type", ct, "Accept", ct))
			if r.streamID == "" {
				t.Errorf("re-SUBSCRIBE of removed framework: 200 without Mesos-Stream-Id (headers %v, first event %s); Mesos sets it on every SUBSCRIBE 200, and mesos-go rejects a 200 without it (\"missing Mesos-Stream-Id header expected with successful SUBSCRIBE\") before it reads the ERROR", r.resp.Header, describeEvent(&r.first))
			}
			if got := r.resp.Header.Get("Content-Type"); got != ct {
				t.Errorf("re-SUBSCRIBE of removed framework: Content-Type %q, want %q", got, ct)
			}
			if r.first.GetType() != scheduler.Event_ERROR || !strings.Contains(r.first.GetError().GetMessage(), "Framework has been removed") {
				t.Errorf("re-SUBSCRIBE of removed framework: first event %s, want ERROR \"Framework has been removed\"", describeEvent(&r.first))
			}
		})
	})
}

// checkSubscribeResponse asserts the SUBSCRIBE stream headers and that the
// first event is SUBSCRIBED.
func checkSubscribeResponse(t *testing.T, s *rawStream, wantCT string) {
	t.Helper()
	if got := s.resp.Header.Get("Content-Type"); got != wantCT {
		t.Errorf("SUBSCRIBE: Content-Type %q, want %q (the codec, not recordio)", got, wantCT)
	}
	if s.resp.ContentLength != -1 || s.resp.Header.Get("Content-Length") != "" {
		t.Errorf("SUBSCRIBE: Content-Length %d; the stream must have none", s.resp.ContentLength)
	}
	if s.streamID == "" {
		t.Errorf("SUBSCRIBE: no Mesos-Stream-Id header")
	}
	if s.first.GetType() != scheduler.Event_SUBSCRIBED {
		t.Errorf("SUBSCRIBE: first event %s, want SUBSCRIBED", describeEvent(&s.first))
	}
}
