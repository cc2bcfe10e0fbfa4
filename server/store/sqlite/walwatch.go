package sqlite

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/polyjobs/polyjobs/server/store"
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
// Two things keep the mapping sound. The -shm file lives as long as a
// connection has the database open, and the store pins one connection for its
// whole life. And SQLite locks the -shm file with POSIX advisory locks, which
// belong to the process: closing any descriptor of the file drops all of the
// process's locks on it, SQLite's included. So the descriptor behind the
// mapping is shared by every store of the process on that file and closed
// only after the last of them has closed its database.
type walWatch struct {
	path string
	mem  []byte
}

// walHeaderSize is the size of one copy of the WAL-index header.
const walHeaderSize = 48

// The token is the header itself, word by word.
var _ store.ChangeToken = [walHeaderSize / 4]uint32{}

// sharedShm is one mapped -shm file and how many stores use it.
type sharedShm struct {
	f    *os.File
	mem  []byte
	refs int
}

// shmRegistry holds the process's mapped -shm files by path.
type shmRegistry struct {
	sync.Mutex
	files map[string]*sharedShm
}

var shm shmRegistry

// openWALWatch maps the first page of the database's -shm file, or shares
// the mapping another store of the process already made. Where that fails
// (no mmap on the platform, an unexpected mapping), the watch it returns is
// unmapped: its token is never known, and it still holds the file until
// releaseWALWatch.
func openWALWatch(dbPath string) (*walWatch, error) {
	path, err := filepath.Abs(dbPath + "-shm")
	if err != nil {
		return nil, err
	}
	shm.Lock()
	defer shm.Unlock()
	if s, ok := shm.files[path]; ok {
		s.refs++
		return &walWatch{path: path, mem: s.mem}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	mem, err := mmapReadOnly(f, os.Getpagesize())
	if err != nil || len(mem) < 2*walHeaderSize || uintptr(unsafe.Pointer(&mem[0]))%4 != 0 {
		if err == nil {
			munmap(mem)
		}
		// Closing f now would drop SQLite's locks: keep it with the others,
		// unmapped, until the last store on this file closes.
		shm.add(path, &sharedShm{f: f, refs: 1})
		return &walWatch{path: path}, nil
	}
	shm.add(path, &sharedShm{f: f, mem: mem, refs: 1})
	return &walWatch{path: path, mem: mem}, nil
}

// add registers a file; the caller holds the lock.
func (r *shmRegistry) add(path string, s *sharedShm) {
	if r.files == nil {
		r.files = map[string]*sharedShm{}
	}
	r.files[path] = s
}

// token returns the current header, or false when it is being written or not
// initialized (then the caller must read the database).
func (w *walWatch) token() (store.ChangeToken, bool) {
	if w.mem == nil {
		return store.ChangeToken{}, false // unmapped
	}
	var a, b store.ChangeToken
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
		return store.ChangeToken{}, false
	}
	return a, true
}

// releaseWALWatch gives up the store's use of the -shm file of dbPath; the
// last user unmaps it and closes its descriptor. Call it only after the
// store's database is closed, so that no lock of the store is left to drop.
func releaseWALWatch(dbPath string) {
	path, err := filepath.Abs(dbPath + "-shm")
	if err != nil {
		return
	}
	shm.Lock()
	defer shm.Unlock()
	s, ok := shm.files[path]
	if !ok {
		return
	}
	if s.refs--; s.refs > 0 {
		return
	}
	delete(shm.files, path)
	if s.mem != nil {
		munmap(s.mem)
	}
	s.f.Close()
}
