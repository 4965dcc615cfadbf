package proto_test

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
	agentpb "github.com/mesosd/mesosd/proto/mesos/v1/agent"
	"github.com/mesosd/mesosd/proto/mesos/v1/executor"
	masterpb "github.com/mesosd/mesosd/proto/mesos/v1/master"
	"github.com/mesosd/mesosd/proto/mesos/v1/scheduler"
)

// The tables below are transcribed from the Mesos reference
// (shared/reference/mesos-api.md §1.3, §1.4, §1.7, §2.2, §3.2) and from
// upstream apache/mesos include/mesos/v1/*.proto, independently of our
// .proto files. They pin the wire contract: a change to a name, number,
// label or type fails here.

// Force registration of every generated package.
var _ = []proto.Message{
	&mesos.TaskInfo{}, &scheduler.Call{}, &executor.Call{}, &masterpb.Call{}, &agentpb.Call{},
}

func enumDesc(t *testing.T, fullName string) protoreflect.EnumDescriptor {
	t.Helper()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(fullName))
	if err != nil {
		t.Fatalf("enum %s not registered: %v", fullName, err)
	}
	ed, ok := d.(protoreflect.EnumDescriptor)
	if !ok {
		t.Fatalf("%s is not an enum", fullName)
	}
	return ed
}

func msgDesc(t *testing.T, fullName string) protoreflect.MessageDescriptor {
	t.Helper()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(fullName))
	if err != nil {
		t.Fatalf("message %s not registered: %v", fullName, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		t.Fatalf("%s is not a message", fullName)
	}
	return md
}

// checkEnum asserts that the enum has exactly the given name=number values.
func checkEnum(t *testing.T, fullName, spec string) {
	t.Helper()
	ed := enumDesc(t, fullName)
	want := map[string]int32{}
	for _, kv := range strings.Fields(spec) {
		name, num, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("bad spec %q", kv)
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			t.Fatalf("bad spec %q", kv)
		}
		want[name] = int32(n)
	}
	got := map[string]int32{}
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		got[string(vals.Get(i).Name())] = int32(vals.Get(i).Number())
	}
	for name, n := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: missing value %s=%d", fullName, name, n)
		case g != n:
			t.Errorf("%s: %s = %d, want %d", fullName, name, g, n)
		}
	}
	for name, n := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected value %s=%d", fullName, name, n)
		}
	}
}

func typeString(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map<" + typeString(fd.MapKey()) + "," + typeString(fd.MapValue()) + ">"
	case fd.Message() != nil:
		return string(fd.Message().FullName())
	case fd.Enum() != nil:
		return string(fd.Enum().FullName())
	default:
		return fd.Kind().String()
	}
}

func labelString(fd protoreflect.FieldDescriptor) string {
	switch fd.Cardinality() {
	case protoreflect.Required:
		return "R"
	case protoreflect.Repeated:
		return "*"
	default:
		return "O"
	}
}

// checkFields asserts that the message has exactly the given fields.
// Each line is "name=number label type"; label is R (required),
// O (optional) or * (repeated); type is a scalar kind, a fully qualified
// message/enum name, or map<K,V>. Relative names start with '.' and are
// resolved against mesos.v1.
func checkFields(t *testing.T, fullName, spec string) {
	t.Helper()
	md := msgDesc(t, fullName)
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			t.Fatalf("bad spec line %q", line)
		}
		name, num, _ := strings.Cut(parts[0], "=")
		typ := strings.ReplaceAll(parts[2], "~", "mesos.v1.")
		want[name] = num + " " + parts[1] + " " + typ
	}
	got := map[string]string{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		got[string(fd.Name())] = fmt.Sprintf("%d %s %s", fd.Number(), labelString(fd), typeString(fd))
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: missing field %s (%s)", fullName, name, want[name])
		case g != want[name]:
			t.Errorf("%s.%s = %q, want %q", fullName, name, g, want[name])
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected field %s (%s)", fullName, name, g)
		}
	}
}

func TestEnums(t *testing.T) {
	checkEnum(t, "mesos.v1.TaskState", `TASK_STAGING=6 TASK_STARTING=0 TASK_RUNNING=1
		TASK_KILLING=8 TASK_FINISHED=2 TASK_FAILED=3 TASK_KILLED=4 TASK_ERROR=7 TASK_LOST=5
		TASK_DROPPED=9 TASK_UNREACHABLE=10 TASK_GONE=11 TASK_GONE_BY_OPERATOR=12 TASK_UNKNOWN=13`)
	checkEnum(t, "mesos.v1.TaskStatus.Source", `SOURCE_MASTER=0 SOURCE_AGENT=1 SOURCE_EXECUTOR=2`)
	checkEnum(t, "mesos.v1.TaskStatus.Reason", `REASON_COMMAND_EXECUTOR_FAILED=0
		REASON_EXECUTOR_TERMINATED=1 REASON_EXECUTOR_UNREGISTERED=2 REASON_FRAMEWORK_REMOVED=3
		REASON_GC_ERROR=4 REASON_INVALID_FRAMEWORKID=5 REASON_INVALID_OFFERS=6
		REASON_MASTER_DISCONNECTED=7 REASON_CONTAINER_LIMITATION_MEMORY=8 REASON_RECONCILIATION=9
		REASON_AGENT_DISCONNECTED=10 REASON_AGENT_REMOVED=11 REASON_AGENT_RESTARTED=12
		REASON_AGENT_UNKNOWN=13 REASON_TASK_INVALID=14 REASON_TASK_UNAUTHORIZED=15
		REASON_TASK_UNKNOWN=16 REASON_CONTAINER_PREEMPTED=17 REASON_RESOURCES_UNKNOWN=18
		REASON_CONTAINER_LIMITATION=19 REASON_CONTAINER_LIMITATION_DISK=20
		REASON_CONTAINER_LAUNCH_FAILED=21 REASON_CONTAINER_UPDATE_FAILED=22
		REASON_EXECUTOR_REGISTRATION_TIMEOUT=23 REASON_EXECUTOR_REREGISTRATION_TIMEOUT=24
		REASON_TASK_GROUP_INVALID=25 REASON_TASK_GROUP_UNAUTHORIZED=26
		REASON_IO_SWITCHBOARD_EXITED=27 REASON_TASK_CHECK_STATUS_UPDATED=28
		REASON_TASK_HEALTH_CHECK_STATUS_UPDATED=29 REASON_TASK_KILLED_DURING_LAUNCH=30
		REASON_AGENT_REMOVED_BY_OPERATOR=31 REASON_AGENT_REREGISTERED=32
		REASON_MAX_COMPLETION_TIME_REACHED=33 REASON_AGENT_DRAINING=34`)
	checkEnum(t, "mesos.v1.OperationState", `OPERATION_UNSUPPORTED=0 OPERATION_PENDING=1
		OPERATION_FINISHED=2 OPERATION_FAILED=3 OPERATION_ERROR=4 OPERATION_DROPPED=5
		OPERATION_UNREACHABLE=6 OPERATION_GONE_BY_OPERATOR=7 OPERATION_RECOVERING=8
		OPERATION_UNKNOWN=9`)
	checkEnum(t, "mesos.v1.FrameworkInfo.Capability.Type", `UNKNOWN=0 REVOCABLE_RESOURCES=1
		TASK_KILLING_STATE=2 GPU_RESOURCES=3 SHARED_RESOURCES=4 PARTITION_AWARE=5 MULTI_ROLE=6
		RESERVATION_REFINEMENT=7 REGION_AWARE=8`)
	checkEnum(t, "mesos.v1.MasterInfo.Capability.Type", `UNKNOWN=0 AGENT_UPDATE=1 AGENT_DRAINING=2 QUOTA_V2=3`)
	checkEnum(t, "mesos.v1.AgentInfo.Capability.Type", `UNKNOWN=0 MULTI_ROLE=1 HIERARCHICAL_ROLE=2
		RESERVATION_REFINEMENT=3 RESOURCE_PROVIDER=4 RESIZE_VOLUME=5 AGENT_OPERATION_FEEDBACK=6
		AGENT_DRAINING=7 TASK_RESOURCE_LIMITS=8`)
	checkEnum(t, "mesos.v1.Offer.Operation.Type", `UNKNOWN=0 LAUNCH=1 RESERVE=2 UNRESERVE=3
		CREATE=4 DESTROY=5 LAUNCH_GROUP=6 GROW_VOLUME=11 SHRINK_VOLUME=12 CREATE_DISK=13
		DESTROY_DISK=14`)
	checkEnum(t, "mesos.v1.Value.Type", `SCALAR=0 RANGES=1 SET=2 TEXT=3`)
	checkEnum(t, "mesos.v1.Resource.ReservationInfo.Type", `UNKNOWN=0 STATIC=1 DYNAMIC=2`)
	checkEnum(t, "mesos.v1.Resource.DiskInfo.Source.Type", `UNKNOWN=0 PATH=1 MOUNT=2 BLOCK=3 RAW=4`)
	checkEnum(t, "mesos.v1.ExecutorInfo.Type", `UNKNOWN=0 DEFAULT=1 CUSTOM=2`)
	checkEnum(t, "mesos.v1.ContainerInfo.Type", `DOCKER=1 MESOS=2`)
	checkEnum(t, "mesos.v1.ContainerInfo.DockerInfo.Network", `HOST=1 BRIDGE=2 NONE=3 USER=4`)
	checkEnum(t, "mesos.v1.Image.Type", `APPC=1 DOCKER=2`)
	checkEnum(t, "mesos.v1.Volume.Mode", `RW=1 RO=2`)
	checkEnum(t, "mesos.v1.Volume.Source.Type", `UNKNOWN=0 DOCKER_VOLUME=1 SANDBOX_PATH=2
		SECRET=3 HOST_PATH=4 CSI_VOLUME=5`)
	checkEnum(t, "mesos.v1.NetworkInfo.Protocol", `IPv4=1 IPv6=2`)
	checkEnum(t, "mesos.v1.HealthCheck.Type", `UNKNOWN=0 COMMAND=1 HTTP=2 TCP=3`)
	checkEnum(t, "mesos.v1.CheckInfo.Type", `UNKNOWN=0 COMMAND=1 HTTP=2 TCP=3`)
	checkEnum(t, "mesos.v1.Environment.Variable.Type", `UNKNOWN=0 VALUE=1 SECRET=2`)
	checkEnum(t, "mesos.v1.Secret.Type", `UNKNOWN=0 REFERENCE=1 VALUE=2`)
	checkEnum(t, "mesos.v1.DiscoveryInfo.Visibility", `FRAMEWORK=0 CLUSTER=1 EXTERNAL=2`)
	checkEnum(t, "mesos.v1.MachineInfo.Mode", `UP=1 DRAINING=2 DOWN=3`)
	checkEnum(t, "mesos.v1.DrainState", `UNKNOWN=0 DRAINING=1 DRAINED=2`)

	checkEnum(t, "mesos.v1.scheduler.Call.Type", `UNKNOWN=0 SUBSCRIBE=1 TEARDOWN=2 ACCEPT=3
		DECLINE=4 ACCEPT_INVERSE_OFFERS=13 DECLINE_INVERSE_OFFERS=14 REVIVE=5 KILL=6 SHUTDOWN=7
		ACKNOWLEDGE=8 ACKNOWLEDGE_OPERATION_STATUS=15 RECONCILE=9 RECONCILE_OPERATIONS=16
		MESSAGE=10 REQUEST=11 SUPPRESS=12 UPDATE_FRAMEWORK=17`)
	checkEnum(t, "mesos.v1.scheduler.Event.Type", `UNKNOWN=0 SUBSCRIBED=1 OFFERS=2
		INVERSE_OFFERS=9 RESCIND=3 RESCIND_INVERSE_OFFER=10 UPDATE=4 UPDATE_OPERATION_STATUS=11
		MESSAGE=5 FAILURE=6 ERROR=7 HEARTBEAT=8`)
	checkEnum(t, "mesos.v1.scheduler.Response.Type", `UNKNOWN=0 RECONCILE_OPERATIONS=1`)
	checkEnum(t, "mesos.v1.scheduler.AttributeConstraint.Selector.PseudoattributeType",
		`UNKNOWN=0 HOSTNAME=1 REGION=2 ZONE=3`)

	checkEnum(t, "mesos.v1.executor.Call.Type", `UNKNOWN=0 SUBSCRIBE=1 UPDATE=2 MESSAGE=3 HEARTBEAT=4`)
	checkEnum(t, "mesos.v1.executor.Event.Type", `UNKNOWN=0 SUBSCRIBED=1 LAUNCH=2 LAUNCH_GROUP=8
		KILL=3 ACKNOWLEDGED=4 MESSAGE=5 ERROR=6 SHUTDOWN=7 HEARTBEAT=9`)

	checkEnum(t, "mesos.v1.master.Call.Type", `UNKNOWN=0 GET_HEALTH=1 GET_FLAGS=2 GET_VERSION=3
		GET_METRICS=4 GET_LOGGING_LEVEL=5 SET_LOGGING_LEVEL=6 LIST_FILES=7 READ_FILE=8
		GET_STATE=9 GET_AGENTS=10 GET_FRAMEWORKS=11 GET_EXECUTORS=12 GET_OPERATIONS=33
		GET_TASKS=13 GET_ROLES=14 GET_WEIGHTS=15 UPDATE_WEIGHTS=16 GET_MASTER=17 SUBSCRIBE=18
		RESERVE_RESOURCES=19 UNRESERVE_RESOURCES=20 CREATE_VOLUMES=21 DESTROY_VOLUMES=22
		GROW_VOLUME=34 SHRINK_VOLUME=35 GET_MAINTENANCE_STATUS=23 GET_MAINTENANCE_SCHEDULE=24
		UPDATE_MAINTENANCE_SCHEDULE=25 START_MAINTENANCE=26 STOP_MAINTENANCE=27 DRAIN_AGENT=37
		DEACTIVATE_AGENT=38 REACTIVATE_AGENT=39 GET_QUOTA=28 UPDATE_QUOTA=36 SET_QUOTA=29
		REMOVE_QUOTA=30 TEARDOWN=31 MARK_AGENT_GONE=32`)
	checkEnum(t, "mesos.v1.master.Response.Type", `UNKNOWN=0 GET_HEALTH=1 GET_FLAGS=2
		GET_VERSION=3 GET_METRICS=4 GET_LOGGING_LEVEL=5 LIST_FILES=6 READ_FILE=7 GET_STATE=8
		GET_AGENTS=9 GET_FRAMEWORKS=10 GET_EXECUTORS=11 GET_OPERATIONS=19 GET_TASKS=12
		GET_ROLES=13 GET_WEIGHTS=14 GET_MASTER=15 GET_MAINTENANCE_STATUS=16
		GET_MAINTENANCE_SCHEDULE=17 GET_QUOTA=18`)
	checkEnum(t, "mesos.v1.master.Event.Type", `UNKNOWN=0 SUBSCRIBED=1 TASK_ADDED=2
		TASK_UPDATED=3 AGENT_ADDED=4 AGENT_REMOVED=5 FRAMEWORK_ADDED=6 FRAMEWORK_UPDATED=7
		FRAMEWORK_REMOVED=8 HEARTBEAT=9`)

	checkEnum(t, "mesos.v1.agent.Call.Type", `UNKNOWN=0 GET_HEALTH=1 GET_FLAGS=2 GET_VERSION=3
		GET_METRICS=4 GET_LOGGING_LEVEL=5 SET_LOGGING_LEVEL=6 LIST_FILES=7 READ_FILE=8
		GET_STATE=9 GET_CONTAINERS=10 GET_FRAMEWORKS=11 GET_EXECUTORS=12 GET_OPERATIONS=31
		GET_TASKS=13 GET_AGENT=20 GET_RESOURCE_PROVIDERS=26 LAUNCH_NESTED_CONTAINER=14
		WAIT_NESTED_CONTAINER=15 KILL_NESTED_CONTAINER=16 REMOVE_NESTED_CONTAINER=21
		LAUNCH_NESTED_CONTAINER_SESSION=17 ATTACH_CONTAINER_INPUT=18 ATTACH_CONTAINER_OUTPUT=19
		LAUNCH_CONTAINER=22 WAIT_CONTAINER=23 KILL_CONTAINER=24 REMOVE_CONTAINER=25
		ADD_RESOURCE_PROVIDER_CONFIG=27 UPDATE_RESOURCE_PROVIDER_CONFIG=28
		REMOVE_RESOURCE_PROVIDER_CONFIG=29 MARK_RESOURCE_PROVIDER_GONE=32 PRUNE_IMAGES=30`)
}

func TestGoNames(t *testing.T) {
	// Names other packages rely on, as protoc-gen-go spells them.
	if mesos.TaskState_TASK_RUNNING != 1 || mesos.TaskState_TASK_STAGING != 6 {
		t.Error("TaskState constants")
	}
	if scheduler.Call_SUBSCRIBE != 1 || scheduler.Event_HEARTBEAT != 8 {
		t.Error("scheduler constants")
	}
	if masterpb.Call_SUBSCRIBE != 18 || masterpb.Response_GET_STATE != 8 {
		t.Error("master constants")
	}
	if executor.Event_LAUNCH_GROUP != 8 || mesos.TaskStatus_REASON_TASK_INVALID != 14 {
		t.Error("executor/reason constants")
	}
}

func TestFields(t *testing.T) {
	checkFields(t, "mesos.v1.FrameworkInfo", `
		user=1 R string
		name=2 R string
		id=3 O ~FrameworkID
		failover_timeout=4 O double
		checkpoint=5 O bool
		role=6 O string
		roles=12 * string
		hostname=7 O string
		principal=8 O string
		webui_url=9 O string
		capabilities=10 * ~FrameworkInfo.Capability
		labels=11 O ~Labels
		offer_filters=13 * map<string,~OfferFilters>`)
	checkFields(t, "mesos.v1.FrameworkInfo.Capability", `type=1 O ~FrameworkInfo.Capability.Type`)
	checkFields(t, "mesos.v1.MasterInfo", `
		id=1 R string
		ip=2 R uint32
		port=3 R uint32
		pid=4 O string
		hostname=5 O string
		version=6 O string
		address=7 O ~Address
		domain=8 O ~DomainInfo
		capabilities=9 * ~MasterInfo.Capability`)
	checkFields(t, "mesos.v1.AgentInfo", `
		hostname=1 R string
		port=8 O int32
		resources=3 * ~Resource
		attributes=5 * ~Attribute
		id=6 O ~AgentID
		domain=10 O ~DomainInfo`)
	checkFields(t, "mesos.v1.Value", `
		type=1 R ~Value.Type
		scalar=2 O ~Value.Scalar
		ranges=3 O ~Value.Ranges
		set=4 O ~Value.Set
		text=5 O ~Value.Text`)
	checkFields(t, "mesos.v1.Value.Range", `begin=1 R uint64
		end=2 R uint64`)
	checkFields(t, "mesos.v1.Attribute", `
		name=1 R string
		type=2 R ~Value.Type
		scalar=3 O ~Value.Scalar
		ranges=4 O ~Value.Ranges
		set=6 O ~Value.Set
		text=5 O ~Value.Text`)
	checkFields(t, "mesos.v1.Resource", `
		provider_id=12 O ~ResourceProviderID
		name=1 R string
		type=2 R ~Value.Type
		scalar=3 O ~Value.Scalar
		ranges=4 O ~Value.Ranges
		set=5 O ~Value.Set
		role=6 O string
		allocation_info=11 O ~Resource.AllocationInfo
		reservation=8 O ~Resource.ReservationInfo
		reservations=13 * ~Resource.ReservationInfo
		disk=7 O ~Resource.DiskInfo
		revocable=9 O ~Resource.RevocableInfo
		shared=10 O ~Resource.SharedInfo`)
	checkFields(t, "mesos.v1.Resource.ReservationInfo", `
		type=4 O ~Resource.ReservationInfo.Type
		role=3 O string
		principal=1 O string
		labels=2 O ~Labels`)
	checkFields(t, "mesos.v1.Resource.DiskInfo", `
		persistence=1 O ~Resource.DiskInfo.Persistence
		volume=2 O ~Volume
		source=3 O ~Resource.DiskInfo.Source`)
	checkFields(t, "mesos.v1.Offer", `
		id=1 R ~OfferID
		framework_id=2 R ~FrameworkID
		agent_id=3 R ~AgentID
		hostname=4 R string
		url=8 O ~URL
		domain=11 O ~DomainInfo
		resources=5 * ~Resource
		attributes=7 * ~Attribute
		executor_ids=6 * ~ExecutorID
		unavailability=9 O ~Unavailability
		allocation_info=10 O ~Resource.AllocationInfo`)
	checkFields(t, "mesos.v1.InverseOffer", `
		id=1 R ~OfferID
		url=2 O ~URL
		framework_id=3 R ~FrameworkID
		agent_id=4 O ~AgentID
		unavailability=5 R ~Unavailability
		resources=6 * ~Resource`)
	checkFields(t, "mesos.v1.Offer.Operation", `
		type=1 O ~Offer.Operation.Type
		id=12 O ~OperationID
		launch=2 O ~Offer.Operation.Launch
		launch_group=7 O ~Offer.Operation.LaunchGroup
		reserve=3 O ~Offer.Operation.Reserve
		unreserve=4 O ~Offer.Operation.Unreserve
		create=5 O ~Offer.Operation.Create
		destroy=6 O ~Offer.Operation.Destroy
		grow_volume=13 O ~Offer.Operation.GrowVolume
		shrink_volume=14 O ~Offer.Operation.ShrinkVolume
		create_disk=15 O ~Offer.Operation.CreateDisk
		destroy_disk=16 O ~Offer.Operation.DestroyDisk`)
	checkFields(t, "mesos.v1.Offer.Operation.LaunchGroup", `
		executor=1 R ~ExecutorInfo
		task_group=2 R ~TaskGroupInfo`)
	checkFields(t, "mesos.v1.Offer.Operation.Reserve", `
		source=2 * ~Resource
		resources=1 * ~Resource`)
	checkFields(t, "mesos.v1.Offer.Operation.ShrinkVolume", `
		volume=1 R ~Resource
		subtract=2 R ~Value.Scalar`)
	checkFields(t, "mesos.v1.TaskInfo", `
		name=1 R string
		task_id=2 R ~TaskID
		agent_id=3 R ~AgentID
		resources=4 * ~Resource
		executor=5 O ~ExecutorInfo
		command=7 O ~CommandInfo
		container=9 O ~ContainerInfo
		health_check=8 O ~HealthCheck
		check=13 O ~CheckInfo
		kill_policy=12 O ~KillPolicy
		data=6 O bytes
		labels=10 O ~Labels
		discovery=11 O ~DiscoveryInfo
		max_completion_time=14 O ~DurationInfo
		limits=15 * map<string,~Value.Scalar>`)
	checkFields(t, "mesos.v1.Task", `
		name=1 R string
		task_id=2 R ~TaskID
		framework_id=3 R ~FrameworkID
		executor_id=4 O ~ExecutorID
		agent_id=5 R ~AgentID
		state=6 R ~TaskState
		resources=7 * ~Resource
		statuses=8 * ~TaskStatus
		status_update_state=9 O ~TaskState
		status_update_uuid=10 O bytes
		labels=11 O ~Labels
		discovery=12 O ~DiscoveryInfo
		container=13 O ~ContainerInfo
		health_check=15 O ~HealthCheck
		kill_policy=16 O ~KillPolicy
		user=14 O string
		limits=17 * map<string,~Value.Scalar>`)
	checkFields(t, "mesos.v1.TaskStatus", `
		task_id=1 R ~TaskID
		state=2 R ~TaskState
		message=4 O string
		source=9 O ~TaskStatus.Source
		reason=10 O ~TaskStatus.Reason
		data=3 O bytes
		agent_id=5 O ~AgentID
		executor_id=7 O ~ExecutorID
		timestamp=6 O double
		uuid=11 O bytes
		healthy=8 O bool
		check_status=15 O ~CheckStatusInfo
		labels=12 O ~Labels
		container_status=13 O ~ContainerStatus
		unreachable_time=14 O ~TimeInfo
		limitation=16 O ~TaskResourceLimitation`)
	checkFields(t, "mesos.v1.ExecutorInfo", `
		type=15 O ~ExecutorInfo.Type
		executor_id=1 R ~ExecutorID
		framework_id=8 O ~FrameworkID
		command=7 O ~CommandInfo
		container=11 O ~ContainerInfo
		resources=5 * ~Resource
		name=9 O string
		source=10 O string
		data=4 O bytes
		discovery=12 O ~DiscoveryInfo
		shutdown_grace_period=13 O ~DurationInfo
		labels=14 O ~Labels`)
	checkFields(t, "mesos.v1.CommandInfo", `
		uris=1 * ~CommandInfo.URI
		environment=2 O ~Environment
		shell=6 O bool
		value=3 O string
		arguments=7 * string
		user=5 O string`)
	checkFields(t, "mesos.v1.CommandInfo.URI", `
		value=1 R string
		executable=2 O bool
		extract=3 O bool
		cache=4 O bool
		output_file=5 O string`)
	checkFields(t, "mesos.v1.ContainerInfo", `
		type=1 R ~ContainerInfo.Type
		volumes=2 * ~Volume
		hostname=4 O string
		docker=3 O ~ContainerInfo.DockerInfo
		mesos=5 O ~ContainerInfo.MesosInfo
		network_infos=7 * ~NetworkInfo
		linux_info=8 O ~LinuxInfo
		rlimit_info=9 O ~RLimitInfo
		tty_info=10 O ~TTYInfo`)
	checkFields(t, "mesos.v1.HealthCheck", `
		delay_seconds=2 O double
		interval_seconds=3 O double
		timeout_seconds=4 O double
		consecutive_failures=5 O uint32
		grace_period_seconds=6 O double
		type=8 O ~HealthCheck.Type
		command=7 O ~CommandInfo
		http=1 O ~HealthCheck.HTTPCheckInfo
		tcp=9 O ~HealthCheck.TCPCheckInfo`)
	checkFields(t, "mesos.v1.Operation", `
		framework_id=1 O ~FrameworkID
		agent_id=2 O ~AgentID
		info=3 R ~Offer.Operation
		latest_status=4 R ~OperationStatus
		statuses=5 * ~OperationStatus
		uuid=6 R ~UUID`)
	checkFields(t, "mesos.v1.OperationStatus", `
		operation_id=1 O ~OperationID
		state=2 R ~OperationState
		message=3 O string
		converted_resources=4 * ~Resource
		uuid=5 O ~UUID
		agent_id=6 O ~AgentID
		resource_provider_id=7 O ~ResourceProviderID`)
	checkFields(t, "mesos.v1.Filters", `refuse_seconds=1 O double`)
	checkFields(t, "mesos.v1.UUID", `value=1 R bytes`)
	checkFields(t, "mesos.v1.ContainerID", `value=1 R string
		parent=2 O ~ContainerID`)
	checkFields(t, "mesos.v1.Address", `hostname=1 O string
		ip=2 O string
		port=3 R int32`)

	checkFields(t, "mesos.v1.scheduler.Call", `
		framework_id=1 O ~FrameworkID
		type=2 O mesos.v1.scheduler.Call.Type
		subscribe=3 O mesos.v1.scheduler.Call.Subscribe
		accept=4 O mesos.v1.scheduler.Call.Accept
		decline=5 O mesos.v1.scheduler.Call.Decline
		kill=6 O mesos.v1.scheduler.Call.Kill
		shutdown=7 O mesos.v1.scheduler.Call.Shutdown
		acknowledge=8 O mesos.v1.scheduler.Call.Acknowledge
		reconcile=9 O mesos.v1.scheduler.Call.Reconcile
		message=10 O mesos.v1.scheduler.Call.Message
		request=11 O mesos.v1.scheduler.Call.Request
		accept_inverse_offers=13 O mesos.v1.scheduler.Call.AcceptInverseOffers
		decline_inverse_offers=14 O mesos.v1.scheduler.Call.DeclineInverseOffers
		revive=15 O mesos.v1.scheduler.Call.Revive
		suppress=16 O mesos.v1.scheduler.Call.Suppress
		acknowledge_operation_status=17 O mesos.v1.scheduler.Call.AcknowledgeOperationStatus
		reconcile_operations=18 O mesos.v1.scheduler.Call.ReconcileOperations
		update_framework=19 O mesos.v1.scheduler.Call.UpdateFramework`)
	checkFields(t, "mesos.v1.scheduler.Call.Subscribe", `
		framework_info=1 R ~FrameworkInfo
		suppressed_roles=2 * string
		offer_constraints=3 O mesos.v1.scheduler.OfferConstraints`)
	checkFields(t, "mesos.v1.scheduler.Call.Accept", `
		offer_ids=1 * ~OfferID
		operations=2 * ~Offer.Operation
		filters=3 O ~Filters`)
	checkFields(t, "mesos.v1.scheduler.Call.Decline", `offer_ids=1 * ~OfferID
		filters=2 O ~Filters`)
	checkFields(t, "mesos.v1.scheduler.Call.Kill", `
		task_id=1 R ~TaskID
		agent_id=2 O ~AgentID
		kill_policy=3 O ~KillPolicy`)
	checkFields(t, "mesos.v1.scheduler.Call.Acknowledge", `
		agent_id=1 R ~AgentID
		task_id=2 R ~TaskID
		uuid=3 R bytes`)
	checkFields(t, "mesos.v1.scheduler.Call.AcknowledgeOperationStatus", `
		agent_id=1 O ~AgentID
		resource_provider_id=2 O ~ResourceProviderID
		uuid=3 R bytes
		operation_id=4 R ~OperationID`)
	checkFields(t, "mesos.v1.scheduler.Call.UpdateFramework", `
		framework_info=1 R ~FrameworkInfo
		suppressed_roles=2 * string
		offer_constraints=3 O mesos.v1.scheduler.OfferConstraints`)
	checkFields(t, "mesos.v1.scheduler.OfferConstraints", `
		role_constraints=1 * map<string,mesos.v1.scheduler.OfferConstraints.RoleConstraints>`)
	checkFields(t, "mesos.v1.scheduler.AttributeConstraint.Predicate", `
		exists=1 O mesos.v1.scheduler.AttributeConstraint.Predicate.Exists
		not_exists=2 O mesos.v1.scheduler.AttributeConstraint.Predicate.NotExists
		text_equals=3 O mesos.v1.scheduler.AttributeConstraint.Predicate.TextEquals
		text_not_equals=4 O mesos.v1.scheduler.AttributeConstraint.Predicate.TextNotEquals
		text_matches=5 O mesos.v1.scheduler.AttributeConstraint.Predicate.TextMatches
		text_not_matches=6 O mesos.v1.scheduler.AttributeConstraint.Predicate.TextNotMatches`)
	checkFields(t, "mesos.v1.scheduler.Event", `
		type=1 O mesos.v1.scheduler.Event.Type
		subscribed=2 O mesos.v1.scheduler.Event.Subscribed
		offers=3 O mesos.v1.scheduler.Event.Offers
		rescind=4 O mesos.v1.scheduler.Event.Rescind
		update=5 O mesos.v1.scheduler.Event.Update
		message=6 O mesos.v1.scheduler.Event.Message
		failure=7 O mesos.v1.scheduler.Event.Failure
		error=8 O mesos.v1.scheduler.Event.Error
		inverse_offers=9 O mesos.v1.scheduler.Event.InverseOffers
		rescind_inverse_offer=10 O mesos.v1.scheduler.Event.RescindInverseOffer
		update_operation_status=11 O mesos.v1.scheduler.Event.UpdateOperationStatus`)
	checkFields(t, "mesos.v1.scheduler.Event.Subscribed", `
		framework_id=1 R ~FrameworkID
		heartbeat_interval_seconds=2 O double
		master_info=3 O ~MasterInfo`)
	checkFields(t, "mesos.v1.scheduler.Event.Failure", `
		agent_id=1 O ~AgentID
		executor_id=2 O ~ExecutorID
		status=3 O int32`)

	checkFields(t, "mesos.v1.executor.Call", `
		executor_id=1 R ~ExecutorID
		framework_id=2 R ~FrameworkID
		type=3 O mesos.v1.executor.Call.Type
		subscribe=4 O mesos.v1.executor.Call.Subscribe
		update=5 O mesos.v1.executor.Call.Update
		message=6 O mesos.v1.executor.Call.Message`)
	checkFields(t, "mesos.v1.executor.Call.Message", `data=2 R bytes`)
	checkFields(t, "mesos.v1.executor.Event", `
		type=1 O mesos.v1.executor.Event.Type
		subscribed=2 O mesos.v1.executor.Event.Subscribed
		acknowledged=3 O mesos.v1.executor.Event.Acknowledged
		launch=4 O mesos.v1.executor.Event.Launch
		launch_group=8 O mesos.v1.executor.Event.LaunchGroup
		kill=5 O mesos.v1.executor.Event.Kill
		message=6 O mesos.v1.executor.Event.Message
		error=7 O mesos.v1.executor.Event.Error`)
	checkFields(t, "mesos.v1.executor.Event.Subscribed", `
		executor_info=1 R ~ExecutorInfo
		framework_info=2 R ~FrameworkInfo
		agent_info=3 R ~AgentInfo
		container_id=4 O ~ContainerID`)

	checkFields(t, "mesos.v1.master.Call", `
		type=1 O mesos.v1.master.Call.Type
		get_metrics=2 O mesos.v1.master.Call.GetMetrics
		set_logging_level=3 O mesos.v1.master.Call.SetLoggingLevel
		list_files=4 O mesos.v1.master.Call.ListFiles
		read_file=5 O mesos.v1.master.Call.ReadFile
		update_weights=6 O mesos.v1.master.Call.UpdateWeights
		reserve_resources=7 O mesos.v1.master.Call.ReserveResources
		unreserve_resources=8 O mesos.v1.master.Call.UnreserveResources
		create_volumes=9 O mesos.v1.master.Call.CreateVolumes
		destroy_volumes=10 O mesos.v1.master.Call.DestroyVolumes
		update_maintenance_schedule=11 O mesos.v1.master.Call.UpdateMaintenanceSchedule
		start_maintenance=12 O mesos.v1.master.Call.StartMaintenance
		stop_maintenance=13 O mesos.v1.master.Call.StopMaintenance
		set_quota=14 O mesos.v1.master.Call.SetQuota
		remove_quota=15 O mesos.v1.master.Call.RemoveQuota
		teardown=16 O mesos.v1.master.Call.Teardown
		mark_agent_gone=17 O mesos.v1.master.Call.MarkAgentGone
		grow_volume=18 O mesos.v1.master.Call.GrowVolume
		shrink_volume=19 O mesos.v1.master.Call.ShrinkVolume
		update_quota=20 O mesos.v1.master.Call.UpdateQuota
		drain_agent=21 O mesos.v1.master.Call.DrainAgent
		deactivate_agent=22 O mesos.v1.master.Call.DeactivateAgent
		reactivate_agent=23 O mesos.v1.master.Call.ReactivateAgent`)
	checkFields(t, "mesos.v1.master.Call.DrainAgent", `
		agent_id=1 R ~AgentID
		max_grace_period=2 O google.protobuf.Duration
		mark_gone=3 O bool`)
	checkFields(t, "mesos.v1.master.Call.ReserveResources", `
		agent_id=1 R ~AgentID
		source=3 * ~Resource
		resources=2 * ~Resource`)
	checkFields(t, "mesos.v1.master.Response", `
		type=1 O mesos.v1.master.Response.Type
		get_health=2 O mesos.v1.master.Response.GetHealth
		get_flags=3 O mesos.v1.master.Response.GetFlags
		get_version=4 O mesos.v1.master.Response.GetVersion
		get_metrics=5 O mesos.v1.master.Response.GetMetrics
		get_logging_level=6 O mesos.v1.master.Response.GetLoggingLevel
		list_files=7 O mesos.v1.master.Response.ListFiles
		read_file=8 O mesos.v1.master.Response.ReadFile
		get_state=9 O mesos.v1.master.Response.GetState
		get_agents=10 O mesos.v1.master.Response.GetAgents
		get_frameworks=11 O mesos.v1.master.Response.GetFrameworks
		get_executors=12 O mesos.v1.master.Response.GetExecutors
		get_tasks=13 O mesos.v1.master.Response.GetTasks
		get_roles=14 O mesos.v1.master.Response.GetRoles
		get_weights=15 O mesos.v1.master.Response.GetWeights
		get_master=16 O mesos.v1.master.Response.GetMaster
		get_maintenance_status=17 O mesos.v1.master.Response.GetMaintenanceStatus
		get_maintenance_schedule=18 O mesos.v1.master.Response.GetMaintenanceSchedule
		get_quota=19 O mesos.v1.master.Response.GetQuota
		get_operations=20 O mesos.v1.master.Response.GetOperations`)
	checkFields(t, "mesos.v1.master.Response.GetAgents.Agent", `
		agent_info=1 R ~AgentInfo
		active=2 R bool
		deactivated=12 O bool
		version=3 R string
		pid=4 O string
		registered_time=5 O ~TimeInfo
		reregistered_time=6 O ~TimeInfo
		total_resources=7 * ~Resource
		allocated_resources=8 * ~Resource
		offered_resources=9 * ~Resource
		capabilities=10 * ~AgentInfo.Capability
		resource_providers=11 * mesos.v1.master.Response.GetAgents.Agent.ResourceProvider
		drain_info=13 O ~DrainInfo
		estimated_drain_start_time=14 O ~TimeInfo`)
	checkFields(t, "mesos.v1.master.Response.GetFrameworks.Framework", `
		framework_info=1 R ~FrameworkInfo
		active=2 R bool
		connected=3 R bool
		recovered=11 R bool
		registered_time=4 O ~TimeInfo
		reregistered_time=5 O ~TimeInfo
		unregistered_time=6 O ~TimeInfo
		offers=7 * ~Offer
		inverse_offers=8 * ~InverseOffer
		allocated_resources=9 * ~Resource
		offered_resources=10 * ~Resource
		offer_constraints=12 O mesos.v1.scheduler.OfferConstraints`)
	checkFields(t, "mesos.v1.master.Response.GetTasks", `
		pending_tasks=1 * ~Task
		tasks=2 * ~Task
		unreachable_tasks=5 * ~Task
		completed_tasks=3 * ~Task
		orphan_tasks=4 * ~Task`)
	checkFields(t, "mesos.v1.master.Response.GetMaster", `
		master_info=1 O ~MasterInfo
		start_time=2 O double
		elected_time=3 O double`)
	checkFields(t, "mesos.v1.master.Event", `
		type=1 O mesos.v1.master.Event.Type
		subscribed=2 O mesos.v1.master.Event.Subscribed
		task_added=3 O mesos.v1.master.Event.TaskAdded
		task_updated=4 O mesos.v1.master.Event.TaskUpdated
		agent_added=5 O mesos.v1.master.Event.AgentAdded
		agent_removed=6 O mesos.v1.master.Event.AgentRemoved
		framework_added=7 O mesos.v1.master.Event.FrameworkAdded
		framework_updated=8 O mesos.v1.master.Event.FrameworkUpdated
		framework_removed=9 O mesos.v1.master.Event.FrameworkRemoved`)
	checkFields(t, "mesos.v1.master.Event.TaskUpdated", `
		framework_id=1 R ~FrameworkID
		status=2 R ~TaskStatus
		state=3 R ~TaskState`)
}

func TestDefaults(t *testing.T) {
	type check struct {
		name      string
		got, want any
	}
	hc := &mesos.HealthCheck{}
	ck := &mesos.CheckInfo{}
	checks := []check{
		{"CommandInfo.shell", (&mesos.CommandInfo{}).GetShell(), true},
		{"CommandInfo.URI.extract", (&mesos.CommandInfo_URI{}).GetExtract(), true},
		{"FrameworkInfo.role", (&mesos.FrameworkInfo{}).GetRole(), "*"},
		{"FrameworkInfo.failover_timeout", (&mesos.FrameworkInfo{}).GetFailoverTimeout(), 0.0},
		{"FrameworkInfo.checkpoint", (&mesos.FrameworkInfo{}).GetCheckpoint(), false},
		{"Filters.refuse_seconds", (&mesos.Filters{}).GetRefuseSeconds(), 5.0},
		{"Resource.role", (&mesos.Resource{}).GetRole(), "*"},
		{"MasterInfo.port", (&mesos.MasterInfo{}).GetPort(), uint32(5050)},
		{"AgentInfo.port", (&mesos.AgentInfo{}).GetPort(), int32(5051)},
		{"HealthCheck.delay_seconds", hc.GetDelaySeconds(), 15.0},
		{"HealthCheck.interval_seconds", hc.GetIntervalSeconds(), 10.0},
		{"HealthCheck.timeout_seconds", hc.GetTimeoutSeconds(), 20.0},
		{"HealthCheck.consecutive_failures", hc.GetConsecutiveFailures(), uint32(3)},
		{"HealthCheck.grace_period_seconds", hc.GetGracePeriodSeconds(), 10.0},
		{"HealthCheck.HTTPCheckInfo.protocol", (&mesos.HealthCheck_HTTPCheckInfo{}).GetProtocol(), mesos.NetworkInfo_IPv4},
		{"HealthCheck.TCPCheckInfo.protocol", (&mesos.HealthCheck_TCPCheckInfo{}).GetProtocol(), mesos.NetworkInfo_IPv4},
		{"CheckInfo.delay_seconds", ck.GetDelaySeconds(), 15.0},
		{"CheckInfo.interval_seconds", ck.GetIntervalSeconds(), 10.0},
		{"CheckInfo.timeout_seconds", ck.GetTimeoutSeconds(), 20.0},
		{"Image.cached", (&mesos.Image{}).GetCached(), true},
		{"DockerInfo.network", (&mesos.ContainerInfo_DockerInfo{}).GetNetwork(), mesos.ContainerInfo_DockerInfo_HOST},
		{"DockerInfo.privileged", (&mesos.ContainerInfo_DockerInfo{}).GetPrivileged(), false},
		{"Environment.Variable.type", (&mesos.Environment_Variable{}).GetType(), mesos.Environment_Variable_VALUE},
		{"NetworkInfo.IPAddress.protocol", (&mesos.NetworkInfo_IPAddress{}).GetProtocol(), mesos.NetworkInfo_IPv4},
		{"LinuxInfo.share_cgroups", (&mesos.LinuxInfo{}).GetShareCgroups(), true},
		{"CSIPluginInfo.name", (&mesos.CSIPluginInfo{}).GetName(), "default"},
		{"DrainConfig.mark_gone", (&mesos.DrainConfig{}).GetMarkGone(), false},
		{"master.Call.DrainAgent.mark_gone", (&masterpb.Call_DrainAgent{}).GetMarkGone(), false},
		// Enums without an explicit default use their first declared value.
		{"TaskStatus.state", (&mesos.TaskStatus{}).GetState(), mesos.TaskState_TASK_STAGING},
		{"ContainerInfo.type", (&mesos.ContainerInfo{}).GetType(), mesos.ContainerInfo_DOCKER},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("default of %s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// Explicit defaults are declared on the descriptor (so JSON and
	// reflection-based code see them too).
	explicit := map[string]string{
		"mesos.v1.CommandInfo.shell":                       "true",
		"mesos.v1.FrameworkInfo.role":                      "*",
		"mesos.v1.Filters.refuse_seconds":                  "5",
		"mesos.v1.Resource.role":                           "*",
		"mesos.v1.MasterInfo.port":                         "5050",
		"mesos.v1.AgentInfo.port":                          "5051",
		"mesos.v1.HealthCheck.delay_seconds":               "15",
		"mesos.v1.HealthCheck.consecutive_failures":        "3",
		"mesos.v1.ContainerInfo.DockerInfo.network":        "HOST",
		"mesos.v1.Environment.Variable.type":               "VALUE",
		"mesos.v1.HealthCheck.HTTPCheckInfo.protocol":      "IPv4",
		"mesos.v1.LinuxInfo.share_cgroups":                 "true",
		"mesos.v1.scheduler.Call.Subscribe.framework_info": "",
	}
	for path, want := range explicit {
		i := strings.LastIndex(path, ".")
		md := msgDesc(t, path[:i])
		fd := md.Fields().ByName(protoreflect.Name(path[i+1:]))
		if fd == nil {
			t.Errorf("%s: no such field", path)
			continue
		}
		if want == "" {
			if fd.HasDefault() {
				t.Errorf("%s: unexpected default", path)
			}
			continue
		}
		if !fd.HasDefault() {
			t.Errorf("%s: no explicit default", path)
			continue
		}
		var got string
		if fd.Enum() != nil {
			got = string(fd.DefaultEnumValue().Name())
		} else {
			got = fmt.Sprint(fd.Default().Interface())
		}
		if got != want {
			t.Errorf("%s: default %q, want %q", path, got, want)
		}
	}

	for _, path := range []string{"mesos.v1.FrameworkInfo.role", "mesos.v1.Resource.role"} {
		i := strings.LastIndex(path, ".")
		fd := msgDesc(t, path[:i]).Fields().ByName(protoreflect.Name(path[i+1:]))
		if !fd.Options().(*descriptorpb.FieldOptions).GetDeprecated() {
			t.Errorf("%s should be marked deprecated", path)
		}
	}
}

// Protobuf wire helpers for hand-built messages.
func tag(num, wt int) []byte { return appendVarint(nil, uint64(num<<3|wt)) }

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func varintField(num int, v uint64) []byte { return appendVarint(tag(num, 0), v) }

func bytesField(num int, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(appendVarint(tag(num, 2), uint64(len(body))), body...)
}

func str(num int, s string) []byte { return bytesField(num, []byte(s)) }

// A SUBSCRIBE call as mesos-go's msh sends it with the protobuf codec:
// type=SUBSCRIBE, subscribe.framework_info{user, name, capabilities
// MULTI_ROLE, RESERVATION_REFINEMENT, REGION_AWARE, roles=["*"]}.
func TestWireSubscribeCall(t *testing.T) {
	wire := bytes.Join([][]byte{
		varintField(2, 1), // Call.type = SUBSCRIBE
		bytesField(3, // Call.subscribe
			bytesField(1, // Subscribe.framework_info
				str(1, "root"),                    // user
				str(2, "msh"),                     // name
				bytesField(10, varintField(1, 6)), // capabilities: MULTI_ROLE
				bytesField(10, varintField(1, 7)), // RESERVATION_REFINEMENT
				bytesField(10, varintField(1, 8)), // REGION_AWARE
				str(12, "*"),                      // roles
			)),
	}, nil)
	// Spot-check the hand encoding itself against literal bytes.
	if !bytes.HasPrefix(wire, []byte{0x10, 0x01, 0x1a}) {
		t.Fatalf("hand encoding starts with % x", wire[:3])
	}

	var call scheduler.Call
	if err := proto.Unmarshal(wire, &call); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if call.GetType() != scheduler.Call_SUBSCRIBE {
		t.Errorf("type = %v", call.GetType())
	}
	fi := call.GetSubscribe().GetFrameworkInfo()
	if fi.GetUser() != "root" || fi.GetName() != "msh" {
		t.Errorf("framework_info user/name = %q/%q", fi.GetUser(), fi.GetName())
	}
	var caps []mesos.FrameworkInfo_Capability_Type
	for _, c := range fi.GetCapabilities() {
		caps = append(caps, c.GetType())
	}
	wantCaps := []mesos.FrameworkInfo_Capability_Type{
		mesos.FrameworkInfo_Capability_MULTI_ROLE,
		mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT,
		mesos.FrameworkInfo_Capability_REGION_AWARE,
	}
	if fmt.Sprint(caps) != fmt.Sprint(wantCaps) {
		t.Errorf("capabilities = %v, want %v", caps, wantCaps)
	}
	if got := fi.GetRoles(); len(got) != 1 || got[0] != "*" {
		t.Errorf("roles = %q", got)
	}
	if fi.Role != nil || fi.GetRole() != "*" {
		t.Errorf("role: unset with default \"*\" expected, got %v / %q", fi.Role, fi.GetRole())
	}
	if call.FrameworkId != nil {
		t.Errorf("framework_id should be unset")
	}

	// Our encoding of the same message is byte-identical (field order).
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(&call)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if !bytes.Equal(out, wire) {
		t.Errorf("re-encoding differs:\n got % x\nwant % x", out, wire)
	}
}

func TestWireRequiredFields(t *testing.T) {
	// framework_info without the required `name`.
	wire := bytes.Join([][]byte{
		varintField(2, 1),
		bytesField(3, bytesField(1, str(1, "root"))),
	}, nil)
	var call scheduler.Call
	if err := proto.Unmarshal(wire, &call); err == nil {
		t.Error("missing required FrameworkInfo.name must fail to unmarshal")
	}
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(wire, &call); err != nil {
		t.Errorf("partial unmarshal: %v", err)
	}
}

func TestWireExecutorAndEvents(t *testing.T) {
	// Executor MESSAGE: the payload sits in field 2 of Call.Message.
	wire := bytes.Join([][]byte{
		bytesField(1, str(1, "exec-1")),  // executor_id
		bytesField(2, str(1, "fw-0000")), // framework_id
		varintField(3, 3),                // type = MESSAGE
		bytesField(6, str(2, "hello")),   // message.data (field 2)
	}, nil)
	var ec executor.Call
	if err := proto.Unmarshal(wire, &ec); err != nil {
		t.Fatalf("executor call: %v", err)
	}
	if ec.GetType() != executor.Call_MESSAGE || string(ec.GetMessage().GetData()) != "hello" ||
		ec.GetExecutorId().GetValue() != "exec-1" || ec.GetFrameworkId().GetValue() != "fw-0000" {
		t.Errorf("executor call decoded wrong: %v", &ec)
	}

	// Scheduler SUBSCRIBED event with the 15 s heartbeat (double, fixed64).
	hb := []byte{0x11, 0, 0, 0, 0, 0, 0, 0x2e, 0x40} // field 2, wire type 1, 15.0
	ev := bytes.Join([][]byte{
		varintField(1, 1),
		bytesField(2, bytesField(1, str(1, "m-0000")), hb),
	}, nil)
	var se scheduler.Event
	if err := proto.Unmarshal(ev, &se); err != nil {
		t.Fatalf("event: %v", err)
	}
	if se.GetType() != scheduler.Event_SUBSCRIBED ||
		se.GetSubscribed().GetFrameworkId().GetValue() != "m-0000" ||
		se.GetSubscribed().GetHeartbeatIntervalSeconds() != 15 {
		t.Errorf("subscribed event decoded wrong: %v", &se)
	}

	// Master operator SUBSCRIBE call is type 18 in field 1.
	var mc masterpb.Call
	if err := proto.Unmarshal(varintField(1, 18), &mc); err != nil || mc.GetType() != masterpb.Call_SUBSCRIBE {
		t.Errorf("master SUBSCRIBE: %v %v", err, mc.GetType())
	}
}

func TestPackagesAndGoPackages(t *testing.T) {
	files := map[string]string{
		"mesos/v1/mesos.proto":                   "mesos.v1",
		"mesos/v1/scheduler/scheduler.proto":     "mesos.v1.scheduler",
		"mesos/v1/executor/executor.proto":       "mesos.v1.executor",
		"mesos/v1/master/master.proto":           "mesos.v1.master",
		"mesos/v1/agent/agent.proto":             "mesos.v1.agent",
		"mesos/v1/maintenance/maintenance.proto": "mesos.v1.maintenance",
		"mesos/v1/quota/quota.proto":             "mesos.v1.quota",
		"mesos/v1/allocator/allocator.proto":     "mesos.v1.allocator",
	}
	for path, pkg := range files {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			t.Errorf("%s not registered: %v", path, err)
			continue
		}
		if string(fd.Package()) != pkg {
			t.Errorf("%s: package %s, want %s", path, fd.Package(), pkg)
		}
		if fd.Syntax() != protoreflect.Proto2 {
			t.Errorf("%s: syntax %v, want proto2", path, fd.Syntax())
		}
	}
}
