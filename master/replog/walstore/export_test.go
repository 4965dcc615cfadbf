package walstore

// Syncs returns how many data syncs (fdatasync of a segment, fsync of a new
// segment, bbolt commit) the store has made, counting those NoSync skips.
func Syncs(s *Store) int { return s.syncs }

// SetAfterSnapshotTx installs a hook Save runs after storing a received
// snapshot and before writing the WAL; an error from f fails the Save there,
// as a crash between the two would.
func SetAfterSnapshotTx(s *Store, f func() error) { s.afterSnapshotTx = f }

// Segments returns the names of the live segments, oldest first.
func Segments(s *Store) []string {
	var out []string
	for _, g := range s.segs {
		out = append(out, g.name())
	}
	return out
}

// End returns the live segment's file name and the offset of the next record.
func End(s *Store) (string, int64) { return s.segs[len(s.segs)-1].name(), s.off }
