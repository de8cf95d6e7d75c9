//go:build unix

package embedded

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used (all threads, user and
// system): unlike wall time, it hardly moves when other processes take the
// machine's cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
