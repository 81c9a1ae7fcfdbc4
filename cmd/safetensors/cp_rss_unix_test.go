//go:build unix

package main

import (
	"os"
	"runtime"
	"syscall"
)

// maxRSS returns a finished process's peak resident memory in bytes, or 0
// when the system does not say.
func maxRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes
	}
	return int64(ru.Maxrss) * 1024 // KiB elsewhere
}
