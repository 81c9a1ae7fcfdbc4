//go:build !unix && !windows

package hub

import "os"

// Where the system has no file locks (js, wasip1, plan9), the lock
// excludes the goroutines of this process only.
func tryLock(f *os.File) (bool, error) { return holdInProcess(f.Name()), nil }

func unlockFile(f *os.File) { releaseInProcess(f.Name()) }
