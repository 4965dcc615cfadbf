// Package fingerprint works out what an agent offers: its total resources
// (detected, then overridden by --resources) and its attributes.
//
// Detection follows Mesos (Containerizer::resources in
// src/slave/containerizer/containerizer.cpp): a resource named in
// --resources is taken from there and never detected; otherwise
//   - cpus  = number of CPUs;
//   - mem   = total memory - 1 GiB when total >= 2 GiB, else half of it;
//   - disk  = size of the work_dir filesystem - 5 GiB when >= 10 GiB, else
//     half of it;
//   - ports = [31000-32000].
//
// The --resources grammar is Mesos' text form: "name(role):value;..." with
// value a scalar ("2.5"), ranges ("[31000-32000,33000-33100]") or a set
// ("{a,b}"), parsed by internal/resources (which also takes the JSON array
// form).
package fingerprint

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"google.golang.org/protobuf/proto"

	"github.com/mesosd/mesosd/internal/resources"
	mesos "github.com/mesosd/mesosd/proto/mesos/v1"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid agent resources or attributes")

// DefaultPorts is Mesos' default port range for agents.
const DefaultPorts = "[31000-32000]"

const (
	mib = 1 << 20
	gib = 1 << 30
)

// Host is what detection measured; tests build it by hand.
type Host struct {
	CPUs      int
	MemBytes  uint64
	DiskBytes uint64 // size of the filesystem holding the work dir
}

// DetectHost measures the machine and the filesystem of workDir.
func DetectHost(workDir string) (Host, error) {
	h := Host{CPUs: runtime.NumCPU()}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return h, fmt.Errorf("read total memory (sysinfo): %w", err)
	}
	h.MemBytes = uint64(si.Totalram) * uint64(si.Unit)
	var fs syscall.Statfs_t
	if err := syscall.Statfs(workDir, &fs); err != nil {
		return h, fmt.Errorf("measure the filesystem of work dir %q (statfs): %w", workDir, err)
	}
	h.DiskBytes = fs.Blocks * uint64(fs.Bsize)
	return h, nil
}

// MemMB is the memory an agent offers on a host with total bytes of RAM.
func MemMB(total uint64) float64 {
	if total >= 2*gib {
		return float64((total - gib) / mib)
	}
	return float64(total / 2 / mib)
}

// DiskMB is the disk an agent offers on a work-dir filesystem of total bytes.
func DiskMB(total uint64) float64 {
	if total >= 10*gib {
		return float64((total - 5*gib) / mib)
	}
	return float64(total / 2 / mib)
}

// Resources returns the agent's total resources: everything in spec, plus
// cpus, mem, disk and ports from h for those spec does not name. As in
// Mesos, naming a resource with value 0 ("gpus:0") overrides detection
// with nothing. The result is sorted by name (then role) for stable output.
func Resources(h Host, spec string) ([]*mesos.Resource, error) {
	out, zeros, err := parseOverrides(spec)
	if err != nil {
		return nil, err
	}
	named := zeros
	for _, r := range out {
		named[r.GetName()] = true
	}
	if !named["cpus"] {
		out = append(out, scalar("cpus", float64(h.CPUs)))
	}
	if !named["mem"] {
		out = append(out, scalar("mem", MemMB(h.MemBytes)))
	}
	if !named["disk"] {
		out = append(out, scalar("disk", DiskMB(h.DiskBytes)))
	}
	if !named["ports"] {
		ports, err := ParseResources("ports:" + DefaultPorts)
		if err != nil {
			return nil, err
		}
		out = append(out, ports...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].GetName() != out[j].GetName() {
			return out[i].GetName() < out[j].GetName()
		}
		return roleOf(out[i]) < roleOf(out[j])
	})
	return out, nil
}

// parseOverrides parses --resources, setting aside zero scalars (which
// internal/resources refuses, but Mesos takes as "none of it, do not
// detect"): their names come back in zeros.
func parseOverrides(spec string) ([]*mesos.Resource, map[string]bool, error) {
	zeros := map[string]bool{}
	if strings.HasPrefix(strings.TrimSpace(spec), "[") {
		rs, err := ParseResources(spec) // JSON form
		return rs, zeros, err
	}
	var kept []string
	for _, item := range strings.Split(spec, ";") {
		key, text, ok := strings.Cut(item, ":")
		if f, err := strconv.ParseFloat(strings.TrimSpace(text), 64); ok && err == nil && f == 0 {
			name, _, _ := strings.Cut(key, "(")
			zeros[strings.TrimSpace(name)] = true
			continue
		}
		kept = append(kept, item)
	}
	rs, err := ParseResources(strings.Join(kept, ";"))
	return rs, zeros, err
}

func roleOf(r *mesos.Resource) string {
	if rs := r.GetReservations(); len(rs) > 0 {
		return rs[len(rs)-1].GetRole()
	}
	return "*"
}

func scalar(name string, v float64) *mesos.Resource {
	return &mesos.Resource{
		Name:   proto.String(name),
		Type:   mesos.Value_SCALAR.Enum(),
		Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)},
	}
}

// ParseResources parses Mesos' text form of resources with
// internal/resources: entries with the same name and role add up, and a
// role other than "*" is a static reservation.
func ParseResources(spec string) ([]*mesos.Resource, error) {
	rs, err := resources.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return rs.ToProto(), nil
}

// ParseAttributes parses "name:value;..." as Mesos' Attributes::parse does:
// a number is SCALAR, "[a-b,...]" is RANGES, anything else TEXT; sets are
// rejected (Mesos refuses them for attributes).
func ParseAttributes(spec string) ([]*mesos.Attribute, error) {
	var out []*mesos.Attribute
	for _, item := range strings.Split(spec, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, text, ok := strings.Cut(item, ":")
		name, text = strings.TrimSpace(name), strings.TrimSpace(text)
		if !ok || name == "" {
			return nil, fmt.Errorf("attribute %q: expected name:value: %w", item, ErrInvalid)
		}
		v, err := parseValue(text)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", item, err)
		}
		if v.GetType() == mesos.Value_SET {
			return nil, fmt.Errorf("attribute %q: sets are not allowed in attributes: %w", item, ErrInvalid)
		}
		out = append(out, &mesos.Attribute{
			Name:   proto.String(name),
			Type:   v.Type,
			Scalar: v.Scalar,
			Ranges: v.Ranges,
			Text:   v.Text,
		})
	}
	return out, nil
}

// parseValue is Mesos' values::parse: ranges in [], sets in {}, numbers are
// scalars, anything else is text.
func parseValue(s string) (*mesos.Value, error) {
	switch {
	case strings.HasPrefix(s, "["):
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("ranges %q: missing ']': %w", s, ErrInvalid)
		}
		var rs []*mesos.Value_Range
		for _, part := range strings.Split(s[1:len(s)-1], ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			lo, hi, ok := strings.Cut(part, "-")
			b, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
			e, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
			if !ok || err1 != nil || err2 != nil || b > e {
				return nil, fmt.Errorf("range %q: expected begin-end with begin <= end: %w", part, ErrInvalid)
			}
			rs = append(rs, &mesos.Value_Range{Begin: proto.Uint64(b), End: proto.Uint64(e)})
		}
		return &mesos.Value{Type: mesos.Value_RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: coalesce(rs)}}, nil
	case strings.HasPrefix(s, "{"):
		if !strings.HasSuffix(s, "}") {
			return nil, fmt.Errorf("set %q: missing '}': %w", s, ErrInvalid)
		}
		var items []string
		for _, it := range strings.Split(s[1:len(s)-1], ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		return &mesos.Value{Type: mesos.Value_SET.Enum(), Set: &mesos.Value_Set{Item: items}}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return &mesos.Value{Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(f)}}, nil
	}
	if s == "" {
		return nil, fmt.Errorf("empty value: %w", ErrInvalid)
	}
	return &mesos.Value{Type: mesos.Value_TEXT.Enum(), Text: &mesos.Value_Text{Value: proto.String(s)}}, nil
}

func coalesce(rs []*mesos.Value_Range) []*mesos.Value_Range {
	sort.Slice(rs, func(i, j int) bool { return rs[i].GetBegin() < rs[j].GetBegin() })
	var out []*mesos.Value_Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.GetBegin() <= out[n-1].GetEnd()+1 {
			if r.GetEnd() > out[n-1].GetEnd() {
				out[n-1].End = proto.Uint64(r.GetEnd())
			}
			continue
		}
		out = append(out, &mesos.Value_Range{Begin: proto.Uint64(r.GetBegin()), End: proto.Uint64(r.GetEnd())})
	}
	return out
}

// Scalar returns the summed scalar named name in rs (0 if absent).
func Scalar(rs []*mesos.Resource, name string) float64 {
	var v float64
	for _, r := range rs {
		if r.GetName() == name && r.GetType() == mesos.Value_SCALAR {
			v += r.GetScalar().GetValue()
		}
	}
	return v
}

// Format renders resources as Mesos' text form ("cpus:2;mem:1024;ports:[...]").
func Format(rs []*mesos.Resource) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		name := r.GetName()
		if role := roleOf(r); role != "*" {
			name += "(" + role + ")"
		}
		parts = append(parts, name+":"+FormatValue(r.GetType(), r.GetScalar(), r.GetRanges(), r.GetSet(), nil))
	}
	return strings.Join(parts, ";")
}

// FormatValue renders one value in Mesos' text form.
func FormatValue(t mesos.Value_Type, sc *mesos.Value_Scalar, rg *mesos.Value_Ranges, set *mesos.Value_Set, text *mesos.Value_Text) string {
	switch t {
	case mesos.Value_SCALAR:
		return strconv.FormatFloat(sc.GetValue(), 'f', -1, 64)
	case mesos.Value_RANGES:
		var b []string
		for _, r := range rg.GetRange() {
			b = append(b, fmt.Sprintf("%d-%d", r.GetBegin(), r.GetEnd()))
		}
		return "[" + strings.Join(b, ", ") + "]"
	case mesos.Value_SET:
		return "{" + strings.Join(set.GetItem(), ", ") + "}"
	default:
		return text.GetValue()
	}
}
