package sqlite

import (
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"
	"unsafe"
)

// walWatch tells, without a query or a system call, whether anything was
// committed to the database since a given moment, by any process.
//
// In WAL mode every commit updates the WAL-index header at the start of the
// database's -shm file (https://www.sqlite.org/walformat.html, "The WAL-Index
// Header"): its change counter, frame count, salts and checksum. Readers find
// their snapshot there, so while the header is unchanged a new read would see
// exactly what an earlier read saw. SQLite writes the header twice, second
// copy first; like SQLite's own readers we trust it only when both copies
// agree and it is initialized.
//
// The -shm file lives as long as a connection has the database open; the
// store pins one connection for its whole life, so the mapping never goes
// stale.
type walWatch struct {
	mem []byte
}

// walHeaderSize is the size of one copy of the WAL-index header.
const walHeaderSize = 48

// walToken is a snapshot of the WAL-index header.
type walToken [walHeaderSize / 4]uint32

// openWALWatch maps the first page of the database's -shm file.
func openWALWatch(dbPath string) (*walWatch, error) {
	f, err := os.Open(dbPath + "-shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mem, err := mmapReadOnly(f, os.Getpagesize())
	if err != nil {
		return nil, err
	}
	if len(mem) < 2*walHeaderSize || uintptr(unsafe.Pointer(&mem[0]))%4 != 0 {
		munmap(mem)
		return nil, errors.New("sqlite: unexpected -shm mapping")
	}
	return &walWatch{mem: mem}, nil
}

// token returns the current header, or false when it is being written or not
// initialized (then the caller must read the database).
func (w *walWatch) token() (walToken, bool) {
	var a, b walToken
	for i := range a {
		a[i] = atomic.LoadUint32((*uint32)(unsafe.Pointer(&w.mem[4*i])))
	}
	for i := range b {
		b[i] = atomic.LoadUint32((*uint32)(unsafe.Pointer(&w.mem[walHeaderSize+4*i])))
	}
	// isInit is byte 12 of the header: the first byte, in memory order, of
	// the fourth word.
	var word [4]byte
	binary.NativeEndian.PutUint32(word[:], a[3])
	if a != b || word[0] == 0 {
		return walToken{}, false
	}
	return a, true
}

// close unmaps the header.
func (w *walWatch) close() {
	if w != nil && w.mem != nil {
		munmap(w.mem)
		w.mem = nil
	}
}
