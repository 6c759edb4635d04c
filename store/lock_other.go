//go:build !unix

package store

import (
	"context"
	"io"
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
