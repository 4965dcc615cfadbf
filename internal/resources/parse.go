package resources

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// ValidateRole checks a role name as Mesos roles::validate does: "*" or a
// '/'-separated path of non-empty components, none of which is ".", "..",
// "*" or starts with '-', without whitespace or control characters.
func ValidateRole(role string) error {
	if role == "*" {
		return nil
	}
	if role == "" {
		return fmt.Errorf("%w: empty role", ErrInvalid)
	}
	for _, c := range strings.Split(role, "/") {
		switch {
		case c == "":
			return fmt.Errorf("%w: role %q has an empty path component", ErrInvalid, role)
		case c == "." || c == ".." || c == "*":
			return fmt.Errorf("%w: role %q has a reserved component %q", ErrInvalid, role, c)
		case c[0] == '-':
			return fmt.Errorf("%w: role %q has a component starting with '-'", ErrInvalid, role)
		}
		for _, r := range c {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				return fmt.Errorf("%w: role %q contains whitespace or control characters", ErrInvalid, role)
			}
		}
	}
	return nil
}

// isStrictChild reports whether child refines parent ("a/b" refines "a").
func isStrictChild(parent, child string) bool {
	return len(child) > len(parent) && strings.HasPrefix(child, parent) && child[len(parent)] == '/'
}

// validate applies Mesos Resources::validate rules to one resource.
func validate(r *Resource) error {
	if r.Name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalid)
	}
	if strings.IndexByte(r.Name, 0) >= 0 {
		return fmt.Errorf("%w: name %q contains NUL", ErrInvalid, r.Name)
	}
	switch r.Kind {
	case KindScalar:
		if r.Scalar <= 0 {
			return fmt.Errorf("%w: %s: scalar must be > 0", ErrInvalid, r.Name)
		}
	case KindRanges:
		// NewRanges validates when the entry is built.
	case KindSet:
		s := slices.Clone(r.Set)
		slices.Sort(s)
		for i := 1; i < len(s); i++ {
			if s[i] == s[i-1] {
				return fmt.Errorf("%w: %s: duplicate set item %q", ErrInvalid, r.Name, s[i])
			}
		}
	default:
		return fmt.Errorf("%w: %s: unsupported type %v", ErrInvalid, r.Name, r.Kind)
	}
	for i, rv := range r.Reservations {
		if rv.Role == "*" {
			return fmt.Errorf("%w: %s: cannot reserve to role \"*\"", ErrInvalid, r.Name)
		}
		if err := ValidateRole(rv.Role); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		if i > 0 {
			prev := r.Reservations[i-1]
			if !isStrictChild(prev.Role, rv.Role) {
				return fmt.Errorf("%w: %s: reservation to %q does not refine %q", ErrInvalid, r.Name, rv.Role, prev.Role)
			}
			if rv.Type == ReservationStatic {
				return fmt.Errorf("%w: %s: a static reservation cannot refine another", ErrInvalid, r.Name)
			}
		}
	}
	if r.AllocationRole != "" {
		if err := ValidateRole(r.AllocationRole); err != nil {
			return fmt.Errorf("%s: allocation: %w", r.Name, err)
		}
	}
	if r.Disk != nil && r.Name != Disk {
		return fmt.Errorf("%w: %s: disk info on a non-disk resource", ErrInvalid, r.Name)
	}
	if r.Shared && (r.Disk == nil || r.Disk.PersistenceID == "") {
		return fmt.Errorf("%w: %s: only persistent volumes can be shared", ErrInvalid, r.Name)
	}
	if r.Revocable && r.Disk != nil && r.Disk.PersistenceID != "" {
		return fmt.Errorf("%w: %s: a persistent volume cannot be revocable", ErrInvalid, r.Name)
	}
	return nil
}

// Parse reads the Mesos --resources text syntax:
//
//	cpus:2;mem:1024;disk:4096;ports:[31000-32000];gpus:1
//	cpus(eng):4;zones:{a,b}
//
// A role in parentheses other than "*" is a static reservation. Repeated
// names add up. Scalars must be finite and > 0 at three-decimal precision;
// ranges need begin <= end and must not overlap; sets must not repeat items.
// Errors wrap ErrInvalid and quote the offending token. The JSON array form
// (a list of Resource objects, as Mesos also accepts) is recognised by its
// leading '['.
func Parse(s string) (Resources, error) {
	if looksLikeJSON(s) {
		return parseJSON(s)
	}
	var out Resources
	for _, tok := range strings.Split(s, ";") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		r, err := parseOne(tok)
		if err != nil {
			return Resources{}, fmt.Errorf("%w '%s': %s", ErrInvalid, tok, err)
		}
		e, err := newEntry(&r)
		if err != nil {
			return Resources{}, fmt.Errorf("%w '%s': %s", ErrInvalid, tok, detail(err))
		}
		if !e.empty() {
			out = out.Add(Resources{e: []entry{e}})
		}
	}
	return out, nil
}

// parseError is a plain message; Parse adds the ErrInvalid prefix and token.
type parseError string

func (e parseError) Error() string { return string(e) }

func parseOne(tok string) (Resource, error) {
	colon := strings.IndexByte(tok, ':')
	if colon < 0 {
		return Resource{}, parseError("expected name:value")
	}
	head, val := strings.TrimSpace(tok[:colon]), strings.TrimSpace(tok[colon+1:])
	r := Resource{Name: head}
	if open := strings.IndexByte(head, '('); open >= 0 {
		if !strings.HasSuffix(head, ")") {
			return Resource{}, parseError("unterminated role")
		}
		r.Name = strings.TrimSpace(head[:open])
		role := strings.TrimSpace(head[open+1 : len(head)-1])
		if err := ValidateRole(role); err != nil {
			return Resource{}, parseError(detail(err))
		}
		if role != "*" {
			r.Reservations = []Reservation{{Type: ReservationStatic, Role: role}}
		}
	}
	if r.Name == "" {
		return Resource{}, parseError("empty name")
	}
	switch {
	case strings.HasPrefix(val, "["):
		if !strings.HasSuffix(val, "]") {
			return Resource{}, parseError("unterminated ranges")
		}
		r.Kind = KindRanges
		for _, part := range strings.Split(val[1:len(val)-1], ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			lo, hi, found := strings.Cut(part, "-")
			b, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
			e := b
			var err2 error
			if found {
				e, err2 = strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
			}
			if err1 != nil || err2 != nil {
				return Resource{}, parseError("bad range " + strconv.Quote(part))
			}
			if b > e {
				return Resource{}, parseError("range " + part + " has begin > end")
			}
			r.Ranges = append(r.Ranges, Range{b, e})
		}
	case strings.HasPrefix(val, "{"):
		if !strings.HasSuffix(val, "}") {
			return Resource{}, parseError("unterminated set")
		}
		r.Kind = KindSet
		for _, item := range strings.Split(val[1:len(val)-1], ",") {
			if item = strings.TrimSpace(item); item != "" {
				r.Set = append(r.Set, item)
			}
		}
	default:
		r.Kind = KindScalar
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return Resource{}, parseError("bad scalar " + strconv.Quote(val))
		}
		sc, err := ScalarFromFloat(f)
		if err != nil {
			return Resource{}, parseError(detail(err))
		}
		if sc <= 0 {
			return Resource{}, parseError("scalar must be > 0")
		}
		r.Scalar = sc
	}
	return r, nil
}

// detail drops the sentinel's text from a nested error so that Parse can
// prefix it exactly once.
func detail(err error) string {
	return strings.ReplaceAll(err.Error(), ErrInvalid.Error()+": ", "")
}
