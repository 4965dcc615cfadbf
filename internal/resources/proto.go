package resources

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// FromProto validates wire resources (Mesos Resources::validate rules: name
// set, known type with its value present, scalars finite and > 0 at
// three-decimal precision, ranges begin <= end without overlap, sets without
// duplicates, well-formed reservation stacks) and returns their sum.
//
// Both reservation formats are accepted: the refinement stack
// (`reservations`) and the pre-refinement `role` + `reservation` pair, which
// is converted (role R alone is a static reservation, with `reservation` a
// dynamic one). Mixing the two in one resource is an error.
func FromProto(pbs []*mesos.Resource) (Resources, error) {
	var out Resources
	for i, pb := range pbs {
		r, err := fromProto(pb)
		if err != nil {
			return Resources{}, fmt.Errorf("resource %d (%s): %w", i, pb.GetName(), err)
		}
		e, err := newEntry(&r)
		if err != nil {
			return Resources{}, fmt.Errorf("resource %d (%s): %w", i, pb.GetName(), err)
		}
		if !e.empty() {
			out = out.Add(Resources{e: []entry{e}})
		}
	}
	return out, nil
}

func fromProto(pb *mesos.Resource) (Resource, error) {
	if pb == nil {
		return Resource{}, fmt.Errorf("%w: nil resource", ErrInvalid)
	}
	if pb.Type == nil {
		return Resource{}, fmt.Errorf("%w: missing type", ErrInvalid)
	}
	r := Resource{Name: pb.GetName(), ProviderID: pb.GetProviderId().GetValue()}
	switch pb.GetType() {
	case mesos.Value_SCALAR:
		if pb.Scalar == nil || pb.Scalar.Value == nil {
			return Resource{}, fmt.Errorf("%w: scalar type without a scalar value", ErrInvalid)
		}
		s, err := ScalarFromFloat(pb.Scalar.GetValue())
		if err != nil {
			return Resource{}, err
		}
		if s <= 0 {
			return Resource{}, fmt.Errorf("%w: scalar must be > 0 (at 0.001 precision)", ErrInvalid)
		}
		r.Kind, r.Scalar = KindScalar, s
	case mesos.Value_RANGES:
		if pb.Ranges == nil {
			return Resource{}, fmt.Errorf("%w: ranges type without ranges", ErrInvalid)
		}
		r.Kind = KindRanges
		for _, rg := range pb.Ranges.GetRange() {
			r.Ranges = append(r.Ranges, Range{rg.GetBegin(), rg.GetEnd()})
		}
	case mesos.Value_SET:
		if pb.Set == nil {
			return Resource{}, fmt.Errorf("%w: set type without a set", ErrInvalid)
		}
		r.Kind, r.Set = KindSet, append([]string(nil), pb.Set.GetItem()...)
	default:
		return Resource{}, fmt.Errorf("%w: unsupported type %v", ErrInvalid, pb.GetType())
	}

	legacyRole := pb.Role != nil && pb.GetRole() != "*"
	switch {
	case len(pb.Reservations) > 0 && (legacyRole || pb.Reservation != nil):
		return Resource{}, fmt.Errorf("%w: both 'reservations' and pre-refinement 'role'/'reservation' are set", ErrInvalid)
	case len(pb.Reservations) > 0:
		for _, rv := range pb.Reservations {
			if rv.GetType() == mesos.Resource_ReservationInfo_UNKNOWN {
				return Resource{}, fmt.Errorf("%w: reservation type must be STATIC or DYNAMIC", ErrInvalid)
			}
			if rv.Role == nil {
				return Resource{}, fmt.Errorf("%w: reservation without a role", ErrInvalid)
			}
			r.Reservations = append(r.Reservations, Reservation{
				Type:      ReservationType(rv.GetType()),
				Role:      rv.GetRole(),
				Principal: rv.GetPrincipal(),
				Labels:    labelsFromProto(rv.GetLabels()),
			})
		}
	case pb.Reservation != nil:
		if !legacyRole {
			return Resource{}, fmt.Errorf("%w: dynamic reservation without a role", ErrInvalid)
		}
		r.Reservations = []Reservation{{
			Type:      ReservationDynamic,
			Role:      pb.GetRole(),
			Principal: pb.Reservation.GetPrincipal(),
			Labels:    labelsFromProto(pb.Reservation.GetLabels()),
		}}
	case legacyRole:
		r.Reservations = []Reservation{{Type: ReservationStatic, Role: pb.GetRole()}}
	}

	if ai := pb.AllocationInfo; ai != nil && ai.Role != nil {
		r.AllocationRole = ai.GetRole()
	}
	if d := pb.Disk; d != nil {
		di := &DiskInfo{}
		if p := d.Persistence; p != nil {
			if p.GetId() == "" {
				return Resource{}, fmt.Errorf("%w: persistence without an id", ErrInvalid)
			}
			di.PersistenceID, di.PersistencePrincipal = p.GetId(), p.GetPrincipal()
		}
		if v := d.Volume; v != nil {
			di.HasVolume = true
			di.VolumeContainerPath, di.VolumeHostPath = v.GetContainerPath(), v.GetHostPath()
			di.VolumeMode = VolumeMode(v.GetMode())
		}
		if s := d.Source; s != nil {
			di.HasSource = true
			di.SourceType = DiskSourceType(s.GetType())
			switch {
			case s.Path != nil:
				di.SourceRoot = s.Path.GetRoot()
			case s.Mount != nil:
				di.SourceRoot = s.Mount.GetRoot()
			}
			di.SourceID, di.SourceProfile, di.SourceVendor = s.GetId(), s.GetProfile(), s.GetVendor()
			di.SourceMetadata = labelsFromProto(s.GetMetadata())
		}
		r.Disk = di
	}
	r.Revocable = pb.Revocable != nil
	r.Shared = pb.Shared != nil
	return r, nil
}

func labelsFromProto(ls *mesos.Labels) []Label {
	if ls == nil {
		return nil
	}
	out := make([]Label, 0, len(ls.GetLabels()))
	for _, l := range ls.GetLabels() {
		out = append(out, Label{Key: l.GetKey(), Value: l.GetValue()})
	}
	return out
}

func labelsToProto(ls []Label) *mesos.Labels {
	if ls == nil {
		return nil
	}
	out := &mesos.Labels{Labels: make([]*mesos.Label, len(ls))}
	for i, l := range ls {
		out.Labels[i] = &mesos.Label{Key: proto.String(l.Key), Value: proto.String(l.Value)}
	}
	return out
}

// ToProto returns r in the post-refinement wire format, in canonical
// (deterministic) order. A shared resource present n times is emitted n
// times, so FromProto(ToProto(r)) equals r.
func (r Resources) ToProto() []*mesos.Resource {
	out := make([]*mesos.Resource, 0, len(r.e))
	for i := range r.e {
		pb := entryToProto(&r.e[i])
		out = append(out, pb)
		for n := 1; n < r.e[i].count; n++ {
			out = append(out, proto.Clone(pb).(*mesos.Resource))
		}
	}
	return out
}

// ToProtoPreRefinement returns r in the pre-refinement format (`role` plus
// `reservation`), for frameworks without the RESERVATION_REFINEMENT
// capability. It fails if a resource has a refined (multi-level) reservation,
// which that format cannot express.
func (r Resources) ToProtoPreRefinement() ([]*mesos.Resource, error) {
	out := r.ToProto()
	for _, pb := range out {
		switch len(pb.Reservations) {
		case 0:
		case 1:
			rv := pb.Reservations[0]
			pb.Role = rv.Role
			if rv.GetType() == mesos.Resource_ReservationInfo_DYNAMIC {
				pb.Reservation = &mesos.Resource_ReservationInfo{Principal: rv.Principal, Labels: rv.Labels}
			}
			pb.Reservations = nil
		default:
			return nil, fmt.Errorf("%w: %s has a refined reservation", ErrInvalid, pb.GetName())
		}
	}
	return out, nil
}

func entryToProto(e *entry) *mesos.Resource {
	id := e.id
	pb := &mesos.Resource{Name: proto.String(id.name)}
	switch id.kind {
	case KindScalar:
		pb.Type = mesos.Value_SCALAR.Enum()
		pb.Scalar = &mesos.Value_Scalar{Value: proto.Float64(e.scalar.Float64())}
	case KindRanges:
		pb.Type = mesos.Value_RANGES.Enum()
		rs := &mesos.Value_Ranges{Range: make([]*mesos.Value_Range, len(e.ranges))}
		for i, rg := range e.ranges {
			rs.Range[i] = &mesos.Value_Range{Begin: proto.Uint64(rg.Begin), End: proto.Uint64(rg.End)}
		}
		pb.Ranges = rs
	case KindSet:
		pb.Type = mesos.Value_SET.Enum()
		pb.Set = &mesos.Value_Set{Item: append([]string(nil), e.set...)}
	}
	for _, rv := range id.reservations {
		ri := &mesos.Resource_ReservationInfo{
			Type:   mesos.Resource_ReservationInfo_Type(rv.Type).Enum(),
			Role:   proto.String(rv.Role),
			Labels: labelsToProto(rv.Labels),
		}
		if rv.Principal != "" {
			ri.Principal = proto.String(rv.Principal)
		}
		pb.Reservations = append(pb.Reservations, ri)
	}
	if id.allocRole != "" {
		pb.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(id.allocRole)}
	}
	if d := id.disk; d != nil {
		di := &mesos.Resource_DiskInfo{}
		if d.PersistenceID != "" {
			di.Persistence = &mesos.Resource_DiskInfo_Persistence{Id: proto.String(d.PersistenceID)}
			if d.PersistencePrincipal != "" {
				di.Persistence.Principal = proto.String(d.PersistencePrincipal)
			}
		}
		if d.HasVolume {
			di.Volume = &mesos.Volume{
				Mode:          mesos.Volume_Mode(d.VolumeMode).Enum(),
				ContainerPath: proto.String(d.VolumeContainerPath),
			}
			if d.VolumeHostPath != "" {
				di.Volume.HostPath = proto.String(d.VolumeHostPath)
			}
		}
		if d.HasSource {
			s := &mesos.Resource_DiskInfo_Source{Type: mesos.Resource_DiskInfo_Source_Type(d.SourceType).Enum()}
			switch d.SourceType {
			case DiskSourcePath:
				s.Path = &mesos.Resource_DiskInfo_Source_Path{Root: optString(d.SourceRoot)}
			case DiskSourceMount:
				s.Mount = &mesos.Resource_DiskInfo_Source_Mount{Root: optString(d.SourceRoot)}
			}
			s.Id, s.Profile, s.Vendor = optString(d.SourceID), optString(d.SourceProfile), optString(d.SourceVendor)
			s.Metadata = labelsToProto(d.SourceMetadata)
			di.Source = s
		}
		pb.Disk = di
	}
	if id.revocable {
		pb.Revocable = &mesos.Resource_RevocableInfo{}
	}
	if id.shared {
		pb.Shared = &mesos.Resource_SharedInfo{}
	}
	if id.provider != "" {
		pb.ProviderId = &mesos.ResourceProviderID{Value: proto.String(id.provider)}
	}
	return pb
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return proto.String(s)
}

// parseJSON reads the JSON array form of --resources: a list of Resource
// messages in Mesos JSON (proto field names, enums by name).
func parseJSON(s string) (Resources, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return Resources{}, fmt.Errorf("%w: JSON resources: %v", ErrInvalid, err)
	}
	pbs := make([]*mesos.Resource, len(raw))
	for i, m := range raw {
		pbs[i] = &mesos.Resource{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(m, pbs[i]); err != nil {
			return Resources{}, fmt.Errorf("%w: JSON resource %d: %v", ErrInvalid, i, err)
		}
	}
	return FromProto(pbs)
}

// looksLikeJSON tells the JSON array form from the text form; text never
// starts with '[' because every token starts with a name.
func looksLikeJSON(s string) bool {
	return strings.HasPrefix(strings.TrimSpace(s), "[")
}
