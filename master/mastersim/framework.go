package mastersim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

const (
	schedulerPath   = "/api/v1/scheduler"
	schedulerStream = "Mesos-Stream-Id"
)

// simFramework is one simulated scheduler: it launches as many small tasks
// as fit on each offer (up to Config.TasksPerOffer and the budget), declines
// the rest with Config.RefuseSeconds, and acknowledges every update.
type simFramework struct {
	s   *Sim
	idx int

	mu         sync.Mutex
	info       *mesos.FrameworkInfo // Id set once subscribed
	gen        uint64
	streamID   string
	body       io.ReadCloser
	dec        recordDecoder
	lastMS     *milestone
	seq        int
	launched   map[string]time.Time // task → ACCEPT time, until RUNNING
	suppressed bool
}

func newSimFramework(s *Sim, idx int) *simFramework {
	return &simFramework{
		s:   s,
		idx: idx,
		info: &mesos.FrameworkInfo{
			User:            proto.String("sim"),
			Name:            proto.String(fmt.Sprintf("sim-framework-%d", idx)),
			FailoverTimeout: proto.Float64(7 * 24 * 3600),
		},
		launched: make(map[string]time.Time),
	}
}

// subscribe runs on a worker: SUBSCRIBE (with the FrameworkID once known,
// i.e. a failover re-subscription) and hook up the stream.
func (f *simFramework) subscribe() {
	s := f.s
	if s.stopping.Load() {
		return
	}
	f.mu.Lock()
	call := &scheduler.Call{
		Type:        scheduler.Call_SUBSCRIBE.Enum(),
		FrameworkId: f.info.Id,
		Subscribe:   &scheduler.Call_Subscribe{FrameworkInfo: f.info},
	}
	body, _ := proto.Marshal(call)
	f.mu.Unlock()
	s.inflightSubs.Add(1)
	defer s.inflightSubs.Add(-1)
	resp, err := s.post(WithStreaming(context.Background()), schedulerPath, body, "", "", true, nil)
	if err != nil {
		if errors.Is(err, ErrNoMaster) {
			s.park(f.subscribe)
		} else {
			s.wheel.after(100*time.Millisecond, func() { s.work.push(f.subscribe) })
		}
		return
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		s.park(f.subscribe)
		return
	}
	f.mu.Lock()
	f.gen++
	gen := f.gen
	f.streamID = resp.Header.Get(schedulerStream)
	f.body = resp.Body
	f.dec = recordDecoder{}
	f.suppressed = false // a new subscription starts unsuppressed
	f.mu.Unlock()
	s.openStreams.Add(1)
	attach(resp.Body, func(data []byte, err error) { f.onStream(gen, data, err) })
}

func (f *simFramework) onStream(gen uint64, data []byte, err error) {
	s := f.s
	var jobs []func()
	f.mu.Lock()
	if gen != f.gen {
		f.mu.Unlock()
		if err != nil {
			s.openStreams.Add(-1)
		}
		return
	}
	if err == nil {
		err = f.dec.feed(data, func(rec []byte) error {
			ev := &scheduler.Event{}
			if err := proto.Unmarshal(rec, ev); err != nil {
				return err
			}
			jobs = f.handle(ev, jobs)
			return nil
		})
		if err != nil {
			f.body.Close()
		}
		f.mu.Unlock()
		for _, j := range jobs {
			s.work.push(j)
		}
		return
	}
	f.streamID = ""
	f.gen++
	f.mu.Unlock()
	s.openStreams.Add(-1)
	if !s.stopping.Load() {
		s.work.push(f.subscribe)
	}
}

// handle applies one event under f.mu and returns jobs to run unlocked.
func (f *simFramework) handle(ev *scheduler.Event, jobs []func()) []func() {
	s := f.s
	switch ev.GetType() {
	case scheduler.Event_SUBSCRIBED:
		f.info.Id = ev.GetSubscribed().GetFrameworkId()
		s.Counters.FrameworkSubscribed.Add(1)
		if ms := s.fwMS.Load(); ms != f.lastMS {
			f.lastMS = ms
			ms.hit()
		}
	case scheduler.Event_OFFERS:
		jobs = f.offers(ev.GetOffers().GetOffers(), jobs)
	case scheduler.Event_UPDATE:
		st := ev.GetUpdate().GetStatus()
		tid := st.GetTaskId().GetValue()
		switch st.GetState() {
		case mesos.TaskState_TASK_RUNNING:
			if t0, ok := f.launched[tid]; ok {
				delete(f.launched, tid)
				s.LaunchLatency.Record(time.Since(t0))
				s.Counters.TasksRunning.Add(1)
			}
		case mesos.TaskState_TASK_FINISHED:
			s.Counters.TasksFinished.Add(1)
		default:
			s.Counters.TasksOther.Add(1)
			if terminal(st.GetState()) {
				delete(f.launched, tid)
			}
		}
		if len(st.GetUuid()) > 0 {
			body, _ := proto.Marshal(&scheduler.Call{
				Type:        scheduler.Call_ACKNOWLEDGE.Enum(),
				FrameworkId: f.info.Id,
				Acknowledge: &scheduler.Call_Acknowledge{AgentId: st.GetAgentId(), TaskId: st.GetTaskId(), Uuid: st.GetUuid()},
			})
			jobs = append(jobs, f.callJob(body))
		}
	case scheduler.Event_RESCIND:
		s.Counters.Rescinds.Add(1)
	}
	return jobs
}

// offers decides on one OFFERS event: one ACCEPT per usable offer (an
// ACCEPT may only use one agent's offers), one DECLINE for all the rest,
// and SUPPRESS once the launch budget is spent.
func (f *simFramework) offers(offers []*mesos.Offer, jobs []func()) []func() {
	s := f.s
	s.Counters.Offers.Add(int64(len(offers)))
	refuse := &mesos.Filters{RefuseSeconds: proto.Float64(s.cfg.RefuseSeconds)}
	var decline []*mesos.OfferID
	now := time.Now()
	for _, o := range offers {
		fit := s.cfg.TasksPerOffer
		var cpus, mem float64
		for _, r := range o.GetResources() {
			switch r.GetName() {
			case "cpus":
				cpus += r.GetScalar().GetValue()
			case "mem":
				mem += r.GetScalar().GetValue()
			}
		}
		if s.taskCPUs > 0 {
			fit = min(fit, int(cpus/s.taskCPUs+1e-9))
		}
		if s.taskMem > 0 {
			fit = min(fit, int(mem/s.taskMem+1e-9))
		}
		if fit > 0 {
			fit = s.reserve(o.GetAgentId().GetValue(), fit)
		}
		if fit <= 0 {
			decline = append(decline, o.GetId())
			continue
		}
		tasks := make([]*mesos.TaskInfo, fit)
		for i := range tasks {
			f.seq++
			id := fmt.Sprintf("f%d-t%d", f.idx, f.seq)
			tasks[i] = &mesos.TaskInfo{
				Name:      proto.String(id),
				TaskId:    &mesos.TaskID{Value: proto.String(id)},
				AgentId:   o.GetAgentId(),
				Resources: s.taskRes,
				Command:   &mesos.CommandInfo{Value: proto.String("true")},
			}
			f.launched[id] = now
		}
		s.Counters.Accepts.Add(1)
		s.Counters.TasksLaunched.Add(int64(fit))
		body, _ := proto.Marshal(&scheduler.Call{
			Type:        scheduler.Call_ACCEPT.Enum(),
			FrameworkId: f.info.Id,
			Accept: &scheduler.Call_Accept{
				OfferIds: []*mesos.OfferID{o.GetId()},
				Operations: []*mesos.Offer_Operation{{
					Type:   mesos.Offer_Operation_LAUNCH.Enum(),
					Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks},
				}},
				Filters: refuse,
			},
		})
		jobs = append(jobs, f.callJob(body))
	}
	if len(decline) > 0 {
		s.Counters.OffersDeclined.Add(int64(len(decline)))
		body, _ := proto.Marshal(&scheduler.Call{
			Type:        scheduler.Call_DECLINE.Enum(),
			FrameworkId: f.info.Id,
			Decline:     &scheduler.Call_Decline{OfferIds: decline, Filters: refuse},
		})
		jobs = append(jobs, f.callJob(body))
	}
	if !s.budgetLeft() && !f.suppressed {
		f.suppressed = true
		body, _ := proto.Marshal(&scheduler.Call{Type: scheduler.Call_SUPPRESS.Enum(), FrameworkId: f.info.Id})
		jobs = append(jobs, f.callJob(body))
	}
	return jobs
}

// revive re-enables offers after AddTaskBudget.
func (f *simFramework) revive() {
	f.mu.Lock()
	if !f.suppressed || f.streamID == "" {
		f.mu.Unlock()
		return
	}
	f.suppressed = false
	body, _ := proto.Marshal(&scheduler.Call{Type: scheduler.Call_REVIVE.Enum(), FrameworkId: f.info.Id})
	job := f.callJob(body)
	f.mu.Unlock()
	f.s.work.push(job)
}

// callJob sends a non-SUBSCRIBE call on the current stream (built under f.mu).
func (f *simFramework) callJob(body []byte) func() {
	s, sid := f.s, f.streamID
	return func() {
		if sid == "" {
			return
		}
		if code := s.call(schedulerPath, body, schedulerStream, sid, &s.SchedulerCallLatency); code != http.StatusAccepted {
			s.Counters.CallErrors.Add(1)
		}
	}
}
