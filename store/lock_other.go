//go:build !unix

package store

import (
	"context"
	"io"
	"os"
	"sync"
)

// lockMu stands in for the flock of lock_unix.go where there is none:
// it serializes the migrations of one process only, so on such systems
// start one process at a time on a new SQLite file.
var lockMu sync.Mutex

type unlocker struct{}

func (unlocker) Close() error {
	lockMu.Unlock()
	return nil
}

func lockFile(context.Context, string) (io.Closer, error) {
	lockMu.Lock()
	return unlocker{}, nil
}

// tryLock stands in for the flock of lock_unix.go: it always succeeds, so
// on such systems give each process a spill directory of its own.
func tryLock(*os.File) bool { return true }
