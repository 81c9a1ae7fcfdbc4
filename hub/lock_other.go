//go:build !unix && !windows

package hub

import (
	"os"
	"sync"
)

// Where the system has no file locks (js, wasip1, plan9), the lock
// excludes the goroutines of this process only, keyed by the file's path.
var (
	heldMu sync.Mutex
	held   = map[string]bool{}
)

func tryLock(f *os.File) (bool, error) {
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[f.Name()] {
		return false, nil
	}
	held[f.Name()] = true
	return true, nil
}

func unlockFile(f *os.File) {
	heldMu.Lock()
	delete(held, f.Name())
	heldMu.Unlock()
}
