//go:build !unix

package eventstore

// lockDir is a no-op where flock is unavailable: run one licledger process
// per data directory there.
func lockDir(path string) (unlock func(), err error) { return func() {}, nil }
