//go:build unix

package domain

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the test process has used. Benchmarks report
// throughput per CPU second besides per wall second, because the machine
// is shared and wall time measures the neighbours too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
