package hub

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// lockFile takes an exclusive lock on the file at p, creating it and its
// folder if needed, waiting while another process or goroutine holds it,
// until ctx is done. The lock is on the open file, so two opens in one
// process exclude each other too. The file stays after unlock, as
// huggingface_hub's lock files do: deleting it would race with another
// process opening it.
func lockFile(ctx context.Context, p string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	wait := time.Millisecond
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			return func() { unlockFile(f); f.Close() }, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}
