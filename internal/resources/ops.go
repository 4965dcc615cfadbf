package resources

import "fmt"

// Reservation and persistent-volume transformations: the building blocks of
// Mesos' offer operations RESERVE, UNRESERVE, CREATE and DESTROY
// (src/common/resources.cpp Resources::apply) and of an agent's
// checkpointed resources (slave/paths applyCheckpointedResources).

// DynamicallyReserved reports whether the top of the reservation stack is a
// dynamic reservation.
func (r *Resource) DynamicallyReserved() bool {
	n := len(r.Reservations)
	return n > 0 && r.Reservations[n-1].Type == ReservationDynamic
}

// PersistentVolume reports whether r is a persistent volume (a disk with a
// persistence ID).
func (r *Resource) PersistentVolume() bool {
	return r.Disk != nil && r.Disk.PersistenceID != ""
}

// mapItems rebuilds r after f rewrote each item.
func (r Resources) mapItems(f func(*Resource) error) (Resources, error) {
	items := r.Items()
	for i := range items {
		if err := f(&items[i]); err != nil {
			return Resources{}, err
		}
	}
	return New(items...)
}

// Checkpointed returns what an agent must checkpoint: the dynamically
// reserved resources and the persistent volumes (Mesos needCheckpointing).
func (r Resources) Checkpointed() Resources {
	return r.filter(func(id *identity) bool {
		n := len(id.reservations)
		return (n > 0 && id.reservations[n-1].Type == ReservationDynamic) ||
			(id.disk != nil && id.disk.PersistenceID != "")
	})
}

// PersistentVolumes returns the persistent volumes in r.
func (r Resources) PersistentVolumes() Resources {
	return r.filter(func(id *identity) bool { return id.disk != nil && id.disk.PersistenceID != "" })
}

// PopReservation returns r with the top reservation of every resource
// removed. Every resource must be reserved.
func (r Resources) PopReservation() (Resources, error) {
	return r.mapItems(func(x *Resource) error {
		if len(x.Reservations) == 0 {
			return fmt.Errorf("%w: %s is not reserved", ErrInvalid, x.Name)
		}
		x.Reservations = x.Reservations[:len(x.Reservations)-1]
		return nil
	})
}

// PushReservation returns r with rv pushed on every resource's stack; rv
// must refine the current top (validation as New).
func (r Resources) PushReservation(rv Reservation) (Resources, error) {
	return r.mapItems(func(x *Resource) error {
		x.Reservations = append(x.Reservations, rv)
		return nil
	})
}

// StripPersistence returns r with persistence and volume removed from every
// disk (the disk info goes if nothing else is left): the disk a persistent
// volume was created from.
func (r Resources) StripPersistence() Resources {
	out, err := r.mapItems(func(x *Resource) error {
		if x.Disk == nil {
			return nil
		}
		x.Shared, x.SharedCount = false, 0
		d := *x.Disk
		d.PersistenceID, d.PersistencePrincipal = "", ""
		d.HasVolume, d.VolumeContainerPath, d.VolumeHostPath, d.VolumeMode = false, "", "", 0
		if d.HasSource {
			x.Disk = &d
		} else {
			x.Disk = nil
		}
		return nil
	})
	if err != nil {
		// Removing identity fields cannot make a valid resource invalid.
		panic(fmt.Sprintf("resources: strip persistence of %v: %v", r, err))
	}
	return out
}

// StripCheckpointed returns the configured resources that r's checkpointed
// resources came from: dynamic reservations popped (all of them, top
// first) and persistence removed.
func (r Resources) StripCheckpointed() Resources {
	out, err := r.StripPersistence().mapItems(func(x *Resource) error {
		for len(x.Reservations) > 0 && x.Reservations[len(x.Reservations)-1].Type == ReservationDynamic {
			x.Reservations = x.Reservations[:len(x.Reservations)-1]
		}
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("resources: strip checkpointed %v: %v", r, err))
	}
	return out
}

// Convert replaces from with to in r: the effect of an operation whose
// consumed resources are from and whose results are to. r must contain
// from.
func (r Resources) Convert(from, to Resources) (Resources, error) {
	if !r.Contains(from) {
		return Resources{}, fmt.Errorf("%w: %v does not contain %v", ErrInvalid, r, from)
	}
	return r.Subtract(from).Add(to), nil
}

// ApplyCheckpointed returns configured with each checkpointed resource
// replacing the configured resources it was made from (Mesos
// applyCheckpointedResources). It fails if configured lacks them, e.g.
// the agent was restarted with fewer resources.
func ApplyCheckpointed(configured, checkpointed Resources) (Resources, error) {
	out := configured
	for _, it := range checkpointed.Items() {
		one, err := New(it)
		if err != nil {
			return Resources{}, err
		}
		stripped := one.StripCheckpointed()
		if !out.Contains(stripped) {
			return Resources{}, fmt.Errorf("%w: checkpointed %v needs %v, which the agent's resources %v lack", ErrInvalid, one, stripped, out)
		}
		out = out.Subtract(stripped).Add(one)
	}
	return out, nil
}
