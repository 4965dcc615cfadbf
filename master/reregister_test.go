package master

// Tests of the re-registration fast paths in agents.go: resource lists
// converted once per shape and shared between tasks, per (framework, role)
// sums by counting, IDs shared with the master's, and the hand-written
// resource comparison that decides all of it.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/resources"
	"github.com/mesosd/mesosd/proto/codec"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	pb "github.com/mesosd/mesosd/proto/mesosd/v1"
)

// resourceVariants are resources of many shapes, plain and not, that differ
// from each other in one field at a time.
func resourceVariants(t *testing.T) []*mesos.Resource {
	t.Helper()
	scalar := func(name string, v float64) *mesos.Resource {
		return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
	}
	ranges := func(rs ...uint64) *mesos.Resource {
		r := &mesos.Resource{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum(), Ranges: &mesos.Value_Ranges{}}
		for i := 0; i+1 < len(rs); i += 2 {
			r.Ranges.Range = append(r.Ranges.Range, &mesos.Value_Range{Begin: proto.Uint64(rs[i]), End: proto.Uint64(rs[i+1])})
		}
		return r
	}
	with := func(r *mesos.Resource, f func(*mesos.Resource)) *mesos.Resource {
		c := proto.Clone(r).(*mesos.Resource)
		f(c)
		return c
	}
	unknown := func(m proto.Message) {
		// Field 999, varint 1: kept by the decoder as an unknown field.
		m.ProtoReflect().SetUnknown([]byte{0xb8, 0x3e, 0x01})
	}
	cpus := scalar("cpus", 1)
	ports := ranges(31000, 31010)
	out := []*mesos.Resource{
		cpus,
		scalar("cpus", 1), // equal, distinct pointer
		scalar("cpus", 2),
		scalar("mem", 1),
		scalar("cpus", 0),
		with(cpus, func(r *mesos.Resource) { r.Role = proto.String("r1") }),
		with(cpus, func(r *mesos.Resource) { r.Role = proto.String("*") }),
		with(cpus, func(r *mesos.Resource) { r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String("r1")} }),
		with(cpus, func(r *mesos.Resource) { r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String("r2")} }),
		with(cpus, func(r *mesos.Resource) { r.AllocationInfo = &mesos.Resource_AllocationInfo{} }),
		with(cpus, func(r *mesos.Resource) { r.Type = mesos.Value_RANGES.Enum() }),
		with(cpus, func(r *mesos.Resource) { r.Ranges = &mesos.Value_Ranges{} }),
		with(cpus, func(r *mesos.Resource) { r.Scalar.Value = nil }),
		with(cpus, func(r *mesos.Resource) { r.Scalar = nil }),
		with(cpus, func(r *mesos.Resource) { r.Name = nil }),
		with(cpus, func(r *mesos.Resource) { unknown(r) }),
		with(cpus, func(r *mesos.Resource) { unknown(r.Scalar) }),
		with(cpus, func(r *mesos.Resource) {
			r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String("r1")}
			unknown(r.AllocationInfo)
		}),
		with(cpus, func(r *mesos.Resource) {
			r.Reservations = []*mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String("r1")}}
		}),
		with(cpus, func(r *mesos.Resource) { r.Revocable = &mesos.Resource_RevocableInfo{} }),
		with(cpus, func(r *mesos.Resource) {
			r.Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{Id: proto.String("v")}}
		}),
		ports,
		ranges(31000, 31010),
		ranges(31000, 31011),
		ranges(31001, 31010),
		ranges(31000, 31010, 31020, 31030),
		ranges(),
		with(ports, func(r *mesos.Resource) { r.Ranges.Range[0].End = nil }),
		with(ports, func(r *mesos.Resource) { unknown(r.Ranges) }),
		with(ports, func(r *mesos.Resource) { unknown(r.Ranges.Range[0]) }),
		with(ports, func(r *mesos.Resource) { r.Ranges = nil }),
		with(ports, func(r *mesos.Resource) { r.Scalar = &mesos.Value_Scalar{Value: proto.Float64(1)} }),
		with(ports, func(r *mesos.Resource) { r.Role = proto.String("r1") }),
		{Name: proto.String("zones"), Type: mesos.Value_SET.Enum(), Set: &mesos.Value_Set{Item: []string{"a"}}},
	}
	return out
}

// The fast comparison must agree with proto.Equal whenever it is sure.
func TestSamePlainScalarAgreesWithProtoEqual(t *testing.T) {
	vs := resourceVariants(t)
	for i, a := range vs {
		for j, b := range vs {
			eq, sure := samePlainScalar(a, b)
			want := proto.Equal(a, b)
			if sure && eq != want {
				t.Errorf("samePlainScalar(#%d %v, #%d %v) = %v, proto.Equal = %v", i, a, j, b, eq, want)
			}
			if got := sameResourceList([]*mesos.Resource{a}, []*mesos.Resource{b}); got != want {
				t.Errorf("sameResourceList(#%d, #%d) = %v, proto.Equal = %v", i, j, got, want)
			}
		}
	}
	// Plain scalars and ranges take the fast path.
	for _, i := range []int{0, 2, 5, 7, 21, 25, 26} {
		if _, sure := samePlainScalar(vs[i], vs[i]); !sure {
			t.Errorf("resource #%d %v: not compared on the fast path", i, vs[i])
		}
	}
}

func TestSameAgentInfoAgreesWithProtoEqual(t *testing.T) {
	base := &mesos.AgentInfo{
		Hostname:  proto.String("h"),
		Port:      proto.Int32(5051),
		Id:        &mesos.AgentID{Value: proto.String("S1")},
		Resources: mustResources(t, "cpus:4;mem:1024;disk:2048;ports:[31000-32000]"),
	}
	with := func(f func(*mesos.AgentInfo)) *mesos.AgentInfo {
		c := proto.Clone(base).(*mesos.AgentInfo)
		f(c)
		return c
	}
	infos := []*mesos.AgentInfo{
		base,
		with(func(*mesos.AgentInfo) {}),
		with(func(i *mesos.AgentInfo) { i.Hostname = proto.String("h2") }),
		with(func(i *mesos.AgentInfo) { i.Port = nil }),
		with(func(i *mesos.AgentInfo) { i.Id = nil }),
		with(func(i *mesos.AgentInfo) { i.Resources = i.Resources[:3] }),
		with(func(i *mesos.AgentInfo) { i.Resources[3].Ranges.Range[0].End = proto.Uint64(32001) }),
		with(func(i *mesos.AgentInfo) { i.Resources[0].Scalar.Value = proto.Float64(5) }),
		with(func(i *mesos.AgentInfo) {
			i.Attributes = []*mesos.Attribute{{Name: proto.String("rack"), Type: mesos.Value_TEXT.Enum(), Text: &mesos.Value_Text{Value: proto.String("a")}}}
		}),
	}
	for i, a := range infos {
		for j, b := range infos {
			if got, want := sameAgentInfo(a, b), proto.Equal(a, b); got != want {
				t.Errorf("sameAgentInfo(#%d, #%d) = %v, proto.Equal = %v", i, j, got, want)
			}
		}
	}
}

func TestScaleResources(t *testing.T) {
	r := resourcesOf(t, mustResources(t, "cpus:0.1;mem:32;disk:1.5"))
	var want resources.Resources
	for n := 1; n <= 40; n++ {
		want = want.Add(r)
		if got := scaleResources(r, n); !got.Equal(want) {
			t.Errorf("scaleResources(%v, %d) = %v, want %v", r, n, got, want)
		}
	}
}

// usedSums must give, per key and in key order, what adding every task's
// resources one by one gives, whether the keys fit in the struct or not.
func TestUsedSums(t *testing.T) {
	shapes := []string{"cpus:1;mem:10", "cpus:0.1;mem:32", "cpus:2", "mem:7;disk:3"}
	other := []string{"cpus:0.3", "cpus:0.7;mem:1", "disk:5"}
	for _, nkeys := range []int{1, 3, 8, 9, 20} {
		t.Run(fmt.Sprint("keys=", nkeys), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(nkeys)))
			var rs resourceShapes
			for i, s := range shapes {
				task := &mesos.Task{Resources: mustResources(t, s)}
				if shape, _, err := rs.lookup(task); err != nil || shape != i {
					t.Fatalf("lookup of shape %d: %d, %v", i, shape, err)
				}
			}
			var u usedSums
			want := map[usedKey]resources.Resources{}
			for range 200 {
				k := usedKey{fmt.Sprintf("fw-%02d", rng.IntN(nkeys)), []string{"*", "r1"}[rng.IntN(2)]}
				if rng.IntN(4) == 0 {
					res := resourcesOf(t, mustResources(t, other[rng.IntN(len(other))]))
					u.add(k, -1, res)
					want[k] = want[k].Add(res)
					continue
				}
				i := rng.IntN(len(shapes))
				u.add(k, i, rs.s[i].res)
				want[k] = want[k].Add(rs.s[i].res)
			}
			var prev *usedKey
			seen := 0
			u.each(&rs, func(k usedKey, got resources.Resources) {
				if prev != nil && !usedKeyLess(*prev, k) {
					t.Errorf("keys out of order: %v then %v", *prev, k)
				}
				prev = &k
				seen++
				if !got.Equal(want[k]) {
					t.Errorf("%v: sum %v, want %v", k, got, want[k])
				}
			})
			if seen != len(want) {
				t.Errorf("each visited %d keys, want %d", seen, len(want))
			}
		})
	}
}

func TestFirstRole(t *testing.T) {
	for _, fi := range []*mesos.FrameworkInfo{
		frameworkInfo("plain"),
		func() *mesos.FrameworkInfo { fi := frameworkInfo("role"); fi.Role = proto.String("r1"); return fi }(),
		multiRole(frameworkInfo("multi"), "r2", "r3"),
		multiRole(frameworkInfo("multi-none")),
	} {
		f := newFramework(fi, 0)
		want := "*"
		if roles := f.roles(); len(roles) > 0 {
			want = roles[0]
		}
		if got := f.firstRole(); got != want {
			t.Errorf("%s: firstRole = %q, want %q", fi.GetName(), got, want)
		}
	}
}

// After a restart, an agent re-registers with tasks of several frameworks
// and roles, in more resource shapes than are kept: the allocator must hold
// exactly each (framework, role)'s sum, the master's tasks must be what the
// agent reported (sharing lists and IDs), and once the tasks finish every
// resource comes back (the harness fails the test on any allocator
// bookkeeping error).
func TestReregistrationSumsAndSharing(t *testing.T) {
	tm := startMaster(t, testConfig(t))
	const agentRes = "cpus:64;mem:65536;disk:65536;ports:[31000-32000]"
	a := tm.addAgent(agentOpts{resources: agentRes})
	fi1 := frameworkInfo("plain")
	fi1.FailoverTimeout = proto.Float64(3600)
	fi2 := multiRole(frameworkInfo("multi"), "r1", "r2")
	fi2.FailoverTimeout = proto.Float64(3600)
	s1 := tm.subscribe(codecJSON, fi1)
	s2 := tm.subscribe(codecJSON, fi2)
	tm = tm.restart()

	// A framework only the agent knows is recovered from its report.
	unknownFW := &mesos.FrameworkInfo{Id: &mesos.FrameworkID{Value: proto.String("fw-from-agent")}, User: proto.String("u"), Name: proto.String("x")}
	type spec struct {
		fid   string
		role  string // allocation_info role, "" for none
		res   string
		state mesos.TaskState
	}
	running, finished := mesos.TaskState_TASK_RUNNING, mesos.TaskState_TASK_FINISHED
	specs := []spec{
		{s1.fid, "", "cpus:1;mem:10", running},
		{s1.fid, "", "cpus:1;mem:10", running},
		{s2.fid, "r1", "cpus:1;mem:10", running}, // same amounts, other allocation: another shape
		{s1.fid, "", "cpus:1;mem:10", finished},  // terminal: not in use
		{s1.fid, "", "cpus:2;ports:[31000-31001]", running},
		{s2.fid, "r2", "cpus:0.5", running},
		{s2.fid, "r1", "cpus:1;mem:10", running},
		{s1.fid, "", "cpus:0.3;mem:3", running}, // fifth shape and later: not kept
		{s1.fid, "", "cpus:0.7;disk:5", running},
		{s2.fid, "r2", "cpus:0.5", running},
		{"fw-from-agent", "", "cpus:1;mem:10", running},
		{s1.fid, "", "cpus:0.3;mem:3", running},
	}
	var report, sent []*mesos.Task
	want := map[usedKey]resources.Resources{}
	for i, sp := range specs {
		rs := mustResources(t, sp.res)
		role := "*"
		if sp.role != "" {
			role = sp.role
			for _, r := range rs {
				r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(sp.role)}
			}
		}
		task := &mesos.Task{
			Name: proto.String(fmt.Sprint("task ", i)), TaskId: &mesos.TaskID{Value: proto.String(fmt.Sprint("t", i))},
			FrameworkId: &mesos.FrameworkID{Value: proto.String(sp.fid)}, AgentId: &mesos.AgentID{Value: proto.String(a.id)},
			State: sp.state.Enum(), Resources: rs,
		}
		report = append(report, task)
		sent = append(sent, proto.Clone(task).(*mesos.Task))
		if sp.state == running {
			k := usedKey{sp.fid, role}
			want[k] = want[k].Add(resourcesOf(t, rs))
		}
	}
	a.disconnect()
	a2 := tm.addAgent(agentOpts{id: a.id, resources: agentRes, tasks: report, frameworks: []*mesos.FrameworkInfo{unknownFW}})

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tm.m.do(ctx, func() {
		m := tm.m
		for k, w := range want {
			if got := m.alloc.Allocation(k.framework, a2.id, k.role); !got.Equal(w) {
				t.Errorf("allocator holds %v for %v, want %v", got, k, w)
			}
		}
		ag := m.agents[a2.id]
		byShape := map[string][]*mesos.Resource{}
		// The agent's fifth and sixth shapes come after maxResourceShapes.
		unkept := map[string]bool{"cpus:0.3;mem:3": true, "cpus:0.7;disk:5": true}
		for i, sp := range specs {
			f := m.frameworks[sp.fid]
			if f == nil {
				t.Fatalf("framework %s unknown after re-registration", sp.fid)
			}
			tk := f.tasks[fmt.Sprint("t", i)]
			if tk == nil || ag.tasks[taskKey{sp.fid, tk.id()}] != tk {
				t.Fatalf("task t%d missing from its framework or agent", i)
			}
			if !proto.Equal(tk.t, sent[i]) {
				t.Errorf("task t%d = %v, want what the agent sent: %v", i, tk.t, sent[i])
			}
			if wantRes := resourcesOf(t, sent[i].GetResources()); !tk.res.Equal(wantRes) {
				t.Errorf("task t%d resources %v, want %v", i, tk.res, wantRes)
			}
			if tk.t.FrameworkId != f.info.GetId() || tk.t.AgentId != ag.info.GetId() {
				t.Errorf("task t%d does not share the master's framework and agent IDs", i)
			}
			key := fmt.Sprint(sp.role, "/", sp.res)
			if prev, ok := byShape[key]; ok && !unkept[sp.res] && &prev[0] != &tk.t.Resources[0] {
				t.Errorf("task t%d does not share the resource list of an earlier equal task", i)
			}
			if _, ok := byShape[key]; !ok {
				byShape[key] = tk.t.Resources
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	// Every task finishes: each Recover must find its resources tracked.
	for i, sp := range specs {
		if sp.state == running {
			a2.update(sp.fid, fmt.Sprint("t", i), finished)
		}
	}
	if err := tm.m.do(ctx, func() {
		for k := range want {
			if got := tm.m.alloc.Allocation(k.framework, a2.id, k.role); !got.IsEmpty() {
				t.Errorf("after every task finished the allocator still holds %v for %v", got, k)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// agentSubscribeSamples are encodings of agent SUBSCRIBE bodies, from the
// common shape (what agents send) to odd but valid wire data.
func agentSubscribeSamples(t testing.TB) map[string][]byte {
	t.Helper()
	task := func(fid, id, res string, role string) *mesos.Task {
		rs := mustResources(t, res)
		if role != "" {
			for _, r := range rs {
				r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(role)}
			}
		}
		return &mesos.Task{
			Name: proto.String("task " + id), TaskId: &mesos.TaskID{Value: proto.String(id)},
			FrameworkId: &mesos.FrameworkID{Value: proto.String(fid)}, AgentId: &mesos.AgentID{Value: proto.String("S1")},
			State: mesos.TaskState_TASK_RUNNING.Enum(), Resources: rs,
		}
	}
	req := &pb.AgentSubscribe{
		Info: &mesos.AgentInfo{Hostname: proto.String("h"), Id: &mesos.AgentID{Value: proto.String("S1")},
			Resources: mustResources(t, "cpus:4;mem:1024;ports:[31000-32000]")},
		Version:    proto.String("test"),
		Frameworks: []*mesos.FrameworkInfo{frameworkInfo("fw")},
	}
	for i := range 10 {
		fid := []string{"fw-a", "fw-b", "fw-c"}[i%3]
		res, role := "cpus:0.1;mem:32", ""
		if i%4 == 3 {
			res, role = "cpus:1;ports:[31000-31001]", "r1"
		}
		tk := task(fid, fmt.Sprint("t", i), res, role)
		if i == 5 {
			tk.StatusUpdateState = mesos.TaskState_TASK_FINISHED.Enum()
			tk.StatusUpdateUuid = []byte("0123456789abcdef")
			tk.Statuses = []*mesos.TaskStatus{{TaskId: tk.TaskId, State: mesos.TaskState_TASK_RUNNING.Enum()}}
			tk.Labels = &mesos.Labels{Labels: []*mesos.Label{{Key: proto.String("k"), Value: proto.String("v")}}}
		}
		if i == 6 {
			tk.Resources = nil
		}
		req.Tasks = append(req.Tasks, tk)
	}
	enc := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bytesField := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	common := enc(req)
	out := map[string][]byte{"common": common, "empty": {}}

	noTasks := proto.Clone(req).(*pb.AgentSubscribe)
	noTasks.Tasks = nil
	out["no tasks"] = enc(noTasks)

	t0 := req.Tasks[0]
	res0 := cat(bytesField(taskResourcesField, enc(t0.Resources[0])), bytesField(taskResourcesField, enc(t0.Resources[1])))
	head := func(tk *mesos.Task) []byte { // name, task_id, framework_id, agent_id, state
		c := proto.Clone(tk).(*mesos.Task)
		c.Resources = nil
		return enc(c)
	}
	unknownField := protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 7)
	taskBodies := map[string][]byte{
		// Resources split by another field: decoded generically.
		"split resources": cat(bytesField(taskResourcesField, enc(t0.Resources[0])), head(t0), bytesField(taskResourcesField, enc(t0.Resources[1]))),
		// framework_id twice: merged by the generic decoder.
		"framework_id twice": cat(head(t0), bytesField(taskFrameworkIDField, enc(&mesos.FrameworkID{Value: proto.String("fw-z")})), res0),
		"agent_id twice":     cat(head(t0), bytesField(taskAgentIDField, enc(&mesos.AgentID{Value: proto.String("S9")})), res0),
		// Field 7 as a varint: an unknown field, not a resource.
		"resources varint": cat(head(t0), res0, protowire.AppendVarint(protowire.AppendTag(nil, taskResourcesField, protowire.VarintType), 1)),
		"unknown fields":   cat(unknownField, head(t0), res0, unknownField),
		"resources first":  cat(res0, head(t0)),
		// Required fields missing: an error naming them.
		"no name":           cat(bytesField(2, enc(t0.TaskId)), bytesField(taskFrameworkIDField, enc(t0.FrameworkId)), bytesField(taskAgentIDField, enc(t0.AgentId)), protowire.AppendVarint(protowire.AppendTag(nil, 6, protowire.VarintType), 1), res0),
		"resource no type":  cat(head(t0), bytesField(taskResourcesField, enc(&mesos.Resource{Name: proto.String("cpus")}))),
		"empty framework":   cat(head(t0), bytesField(taskFrameworkIDField, nil), res0),
		"bad resource wire": cat(head(t0), bytesField(taskResourcesField, []byte{0xff})),
	}
	for name, tb := range taskBodies {
		out["task: "+name] = cat(enc(noTasks), bytesField(agentSubscribeTasksField, tb), bytesField(agentSubscribeTasksField, cat(head(t0), res0)))
	}
	out["tasks varint"] = cat(enc(noTasks), protowire.AppendVarint(protowire.AppendTag(nil, agentSubscribeTasksField, protowire.VarintType), 3))
	out["top-level unknown"] = cat(unknownField, common, unknownField)
	out["truncated"] = common[:len(common)-3]
	out["no info"] = enc(&pb.AgentSubscribe{Tasks: req.Tasks})
	return out
}

// unmarshalAgentSubscribe must decode exactly what codec.Protobuf decodes,
// and fail exactly as it does.
func TestUnmarshalAgentSubscribeMatchesCodec(t *testing.T) {
	check := func(t *testing.T, name string, b []byte) {
		t.Helper()
		var got, want pb.AgentSubscribe
		errGot := unmarshalAgentSubscribe(b, &got)
		errWant := codec.Protobuf.Unmarshal(b, &want)
		if fmt.Sprint(errGot) != fmt.Sprint(errWant) {
			t.Errorf("%s: error %v, want %v", name, errGot, errWant)
		}
		if errWant == nil && !proto.Equal(&got, &want) {
			t.Errorf("%s: decoded\n%v\nwant\n%v", name, &got, &want)
		}
	}
	samples := agentSubscribeSamples(t)
	for name, b := range samples {
		check(t, name, b)
	}
	// Which samples the split decoder takes (the others fall back).
	for name, inParts := range map[string]bool{
		"common": true, "no tasks": true, "top-level unknown": true, "task: unknown fields": true,
		"task: resources first": true, "task: resources varint": true, "task: no name": true,
		"task: split resources": false, "task: framework_id twice": false, "task: agent_id twice": false,
		"task: bad resource wire": false, "truncated": false,
	} {
		var req pb.AgentSubscribe
		if err := unmarshalAgentSubscribeShared(samples[name], &req); (err == nil) != inParts {
			t.Errorf("%s: decoded in parts: %v, want %v", name, err == nil, inParts)
		}
	}
	// Corrupted bodies: every truncation and many byte flips.
	rng := rand.New(rand.NewPCG(7, 7))
	common := samples["common"]
	for n := range len(common) {
		check(t, fmt.Sprint("truncated to ", n), common[:n])
	}
	for i := range 3000 {
		b := append([]byte(nil), common...)
		for range 1 + rng.IntN(3) {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		check(t, fmt.Sprint("mutation ", i), b)
	}
}

// The common shape is decoded in parts, with equal encodings shared.
func TestUnmarshalAgentSubscribeShares(t *testing.T) {
	var req pb.AgentSubscribe
	if err := unmarshalAgentSubscribeShared(agentSubscribeSamples(t)["common"], &req); err != nil {
		t.Fatalf("common body not decoded in parts: %v", err)
	}
	tasks := req.GetTasks()
	if len(tasks) != 10 {
		t.Fatalf("%d tasks, want 10", len(tasks))
	}
	if &tasks[0].Resources[0] != &tasks[1].Resources[0] || &tasks[3].Resources[0] != &tasks[7].Resources[0] {
		t.Error("equal resource lists are not shared")
	}
	if &tasks[0].Resources[0] == &tasks[3].Resources[0] {
		t.Error("different resource lists are shared")
	}
	if tasks[0].FrameworkId != tasks[3].FrameworkId || tasks[0].AgentId != tasks[1].AgentId {
		t.Error("equal IDs are not shared")
	}
	if tasks[0].FrameworkId == tasks[1].FrameworkId {
		t.Error("different framework IDs are shared")
	}
}

func FuzzUnmarshalAgentSubscribe(f *testing.F) {
	for _, b := range agentSubscribeSamples(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want pb.AgentSubscribe
		errGot := unmarshalAgentSubscribe(b, &got)
		errWant := codec.Protobuf.Unmarshal(b, &want)
		if fmt.Sprint(errGot) != fmt.Sprint(errWant) {
			t.Fatalf("error %v, want %v", errGot, errWant)
		}
		if errWant == nil && !proto.Equal(&got, &want) {
			t.Fatalf("decoded %v, want %v", &got, &want)
		}
	})
}
