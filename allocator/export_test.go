package allocator

// DisableFilterCache makes a decide without the filter cache, the
// reference the cached path is compared against.
func DisableFilterCache(a *Allocator) { a.noFilterCache = true }
