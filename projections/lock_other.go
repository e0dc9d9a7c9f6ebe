//go:build !unix

package projections

// lockFile is a no-op where flock is unavailable: run one licledger
// process per data directory there.
func lockFile(path string) (unlock func(), err error) { return func() {}, nil }
