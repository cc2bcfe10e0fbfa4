//go:build !unix

package sqlite

import (
	"errors"
	"os"
)

// Without mmap the store simply reads the database for every lookup.
func mmapReadOnly(f *os.File, size int) ([]byte, error) {
	return nil, errors.New("sqlite: no mmap on this platform")
}

func munmap(b []byte) {}
