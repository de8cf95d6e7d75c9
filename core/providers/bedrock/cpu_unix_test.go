//go:build unix

package bedrock_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the process has used so far:
// a benchmark's CPU per frame counts the SDK's reader goroutines and the
// scheduler's hand-offs too, which wall time on a shared machine hides.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
