//go:build unix

package eventstore

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"github.com/licledger/licledger/domain"
)

// lockDir takes an exclusive, non-blocking flock on path. nats-server does
// not lock its store directory, and two servers writing one directory
// would corrupt it, so a second licledger process on the same data
// directory is refused. The kernel drops the lock when the process dies,
// even by SIGKILL, so a crash never leaves a stale lock behind.
func lockDir(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, domain.Errorf(domain.EINTERNAL, "open lock file: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, domain.Reasonf(domain.ECONFLICT, domain.ReasonDataDirInUse,
				"data directory %s is in use by another licledger process; stop it, or connect to its NATS server with a URL", filepath.Dir(path))
		}
		return nil, domain.Errorf(domain.EINTERNAL, "lock data directory: %v", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
