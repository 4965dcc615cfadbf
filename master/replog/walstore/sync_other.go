//go:build !linux

package walstore

import "os"

// fdatasync falls back to a full fsync where fdatasync does not exist.
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate extends f to size bytes (sparse where the file system allows);
// appends inside it then do not change the file size.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }
