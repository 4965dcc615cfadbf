package allocator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mesosd/mesosd/internal/resources"
)

// Sentinel errors; returned errors wrap them with the offending ID.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid argument")
)

// Capabilities is the set of FrameworkInfo.Capability types that change
// what the allocator offers.
type Capabilities uint32

// Framework capabilities (a bit set; not the wire enum numbers).
const (
	RevocableResources Capabilities = 1 << iota
	GPUResources
	SharedResources
	MultiRole
	ReservationRefinement
	PartitionAware
	RegionAware
)

// Has reports whether all of c2 are in c.
func (c Capabilities) Has(c2 Capabilities) bool { return c&c2 == c2 }

// AgentInfo is what the allocator knows of an agent beyond its resources.
// Attributes, domains and maintenance windows join it later; the allocator
// itself does not interpret attributes (constraints are the frameworks').
type AgentInfo struct {
	Hostname string
}

// Framework describes a framework to the allocator.
type Framework struct {
	// Roles the framework subscribes to: FrameworkInfo.roles for MULTI_ROLE
	// frameworks, otherwise the single (deprecated) role, default "*".
	Roles        []string
	Capabilities Capabilities
	// Active is false for a framework that is registered but disconnected.
	Active bool
	// SuppressedRoles start suppressed (SUBSCRIBE with suppressed_roles).
	SuppressedRoles []string
	// MinAllocatable overrides Options.MinAllocatable per role
	// (FrameworkInfo.offer_filters[role].min_allocatable_resources). An
	// entry with an empty list means "anything is allocatable".
	MinAllocatable map[string][]resources.Quantities
}

// Offer is one allocation decision: Resources on AgentID go to FrameworkID
// under Role. Resources carry no allocation_info; the master sets it
// (Resources.AllocatedTo) for frameworks that expect it.
type Offer struct {
	FrameworkID string
	AgentID     string
	Role        string
	Resources   resources.Resources
}

// Options configure an Allocator. The zero value means Mesos defaults.
type Options struct {
	// MinAllocatable is --min_allocatable_resources: resources are offered
	// only if they contain at least one of these quantities. Nil means the
	// Mesos default "cpus:0.01|mem:32"; an empty non-nil slice disables the
	// check.
	MinAllocatable []resources.Quantities
	// OfferGPUsToAll disables Mesos' --filter_gpu_resources behaviour (on by
	// default), which offers agents that have GPUs only to frameworks with
	// the GPU_RESOURCES capability.
	OfferGPUsToAll bool
	// Shuffle randomises the agent order of each full cycle with a PRNG
	// seeded by Seed (deterministic for a given event sequence), like Mesos'
	// random_shuffle. Without it agents are visited in ID order.
	Shuffle bool
	Seed    uint64
}

// MaxRefuse is the longest refuse filter Mesos honours (refuse_seconds is
// capped at 31536000, one year).
const MaxRefuse = 31536000 * time.Second

// DefaultMinAllocatable is Mesos' --min_allocatable_resources default.
var DefaultMinAllocatable = []resources.Quantities{
	resources.QuantitiesOf(resources.NamedScalar{Name: resources.CPUs, Value: 10}),
	resources.QuantitiesOf(resources.NamedScalar{Name: resources.Mem, Value: 32 * resources.ScalarUnit}),
}

// ParseMinAllocatable reads the --min_allocatable_resources syntax:
// alternatives separated by '|', each a ';'-separated list of scalar
// quantities ("cpus:0.01|mem:32", "cpus:1;mem:128|gpus:1").
func ParseMinAllocatable(s string) ([]resources.Quantities, error) {
	out := []resources.Quantities{}
	for _, alt := range strings.Split(s, "|") {
		if strings.TrimSpace(alt) == "" {
			continue
		}
		q, err := resources.ParseQuantities(alt)
		if err != nil {
			return nil, fmt.Errorf("%w: min allocatable resources: %w", ErrInvalid, err)
		}
		out = append(out, q)
	}
	return out, nil
}
