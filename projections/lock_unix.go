//go:build unix

package projections

import (
	"errors"
	"os"
	"syscall"

	"github.com/licledger/licledger/domain"
)

// lockFile takes an exclusive, non-blocking flock on path (created if
// needed). The serving process holds the lock of its projections database
// for as long as it has it open, so an offline rebuild cannot swap the file
// from under it. The kernel drops the lock when the process dies, so a
// crash leaves no stale lock.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "projections: open lock file: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, domain.Reasonf(domain.ECONFLICT, domain.ReasonProjectionsInUse,
				"projections database %s is open in another licledger process (is `licledger serve` running?); stop it first", path[:len(path)-len(".lock")])
		}
		return nil, domain.Errorf(domain.EINTERNAL, "projections: lock: %v", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
