package hub

import "sync"

// Where the system's file lock does not exclude two opens in one process
// (fcntl locks belong to the process) or where there is none, the lock
// also excludes the goroutines of this process, keyed by the file's path.
var (
	heldMu sync.Mutex
	held   = map[string]bool{}
)

// holdInProcess marks name as locked by this process, and reports
// whether it was free.
func holdInProcess(name string) bool {
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[name] {
		return false
	}
	held[name] = true
	return true
}

func releaseInProcess(name string) {
	heldMu.Lock()
	delete(held, name)
	heldMu.Unlock()
}
