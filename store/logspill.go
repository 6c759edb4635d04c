package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aiproxy/aiproxy"
)

// spill is the directory where a LogWriter sets aside the logs it cannot
// hand to the database: those that found the queue full, and batches the
// database did not take through an outage. Each log is a line of JSON
// in a file named logs-<nanoseconds>-<pid>.jsonl; the file being
// appended to is flocked by its process, so that a replay (of this
// process or another sharing the directory) takes only files no one
// writes to. A database's logs need a spill directory of their own:
// whatever is in it is replayed into the database of the writer that
// finds it.
type spill struct {
	dir string

	mu    sync.Mutex
	f     *os.File // the file appended to; nil when none is open
	buf   []byte   // encoding scratch space
	dirty bool     // written since the last fsync
}

func newSpill(dir string) (*spill, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: log spill directory: %w", err)
	}
	return &spill{dir: dir}, nil
}

// add appends logs to the spill file, opening one when none is, and with
// sync makes them durable before it returns.
func (sp *spill) add(logs []*aiproxy.Log, sync bool) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.f == nil {
		name := filepath.Join(sp.dir, fmt.Sprintf("logs-%020d-%d.jsonl", time.Now().UnixNano(), os.Getpid()))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("store: open log spill file: %w", err)
		}
		tryLock(f) // a new file: no one else has it
		sp.f = f
	}
	b := sp.buf[:0]
	for _, l := range logs {
		js, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("store: encode spilled log: %w", err)
		}
		b = append(append(b, js...), '\n')
	}
	sp.buf = b[:0]
	if _, err := sp.f.Write(b); err != nil {
		return fmt.Errorf("store: write log spill file: %w", err)
	}
	sp.dirty = true
	if sync {
		return sp.syncLocked()
	}
	return nil
}

// sync makes what was added durable.
func (sp *spill) sync() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.syncLocked()
}

func (sp *spill) syncLocked() error {
	if sp.f == nil || !sp.dirty {
		return nil
	}
	if err := sp.f.Sync(); err != nil {
		return fmt.Errorf("store: sync log spill file: %w", err)
	}
	sp.dirty = false
	return nil
}

// rotate closes the file appended to, after syncing it, so that a replay
// takes it; the next add opens another.
func (sp *spill) rotate() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.f == nil {
		return nil
	}
	err := sp.syncLocked()
	if cerr := sp.f.Close(); err == nil {
		err = cerr
	}
	sp.f = nil
	return err
}

// files returns the spill files no process appends to, oldest first, each
// open and locked (its lock held until it is closed).
func (sp *spill) files() ([]*os.File, error) {
	entries, err := os.ReadDir(sp.dir)
	if err != nil {
		return nil, fmt.Errorf("store: read log spill directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "logs-") && strings.HasSuffix(n, ".jsonl") && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	slices.Sort(names) // by the nanoseconds of their creation
	sp.mu.Lock()
	active := ""
	if sp.f != nil {
		active = filepath.Base(sp.f.Name())
	}
	sp.mu.Unlock()
	var out []*os.File
	for _, n := range names {
		if n == active {
			continue
		}
		f, err := os.Open(filepath.Join(sp.dir, n))
		if err != nil {
			continue // replayed and removed by another process meanwhile
		}
		if !tryLock(f) {
			f.Close() // another process appends to it
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// pending reports whether the directory holds a spill file other than
// the one appended to.
func (sp *spill) pending() bool {
	entries, err := os.ReadDir(sp.dir)
	if err != nil {
		return false
	}
	sp.mu.Lock()
	active := ""
	if sp.f != nil {
		active = filepath.Base(sp.f.Name())
	}
	sp.mu.Unlock()
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "logs-") && strings.HasSuffix(n, ".jsonl") && n != active {
			return true
		}
	}
	return false
}

// spillReader reads the logs of a spill file in batches.
type spillReader struct {
	sc  *bufio.Scanner
	bad int // lines that were not a log (a line cut by a crash)
}

func newSpillReader(r io.Reader) *spillReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	return &spillReader{sc: sc}
}

// next returns up to n logs, none at the end of the file.
func (r *spillReader) next(n int) ([]*aiproxy.Log, error) {
	var logs []*aiproxy.Log
	for len(logs) < n && r.sc.Scan() {
		l := new(aiproxy.Log)
		if err := json.Unmarshal(r.sc.Bytes(), l); err != nil || l.RequestID == "" && l.CreatedAt.IsZero() {
			r.bad++
			continue
		}
		logs = append(logs, l)
	}
	return logs, r.sc.Err()
}
