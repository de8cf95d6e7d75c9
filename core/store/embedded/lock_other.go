//go:build !unix

package embedded

import (
	"os"
	"path/filepath"
)

// lockDir creates dir/LOCK exclusively: without flock, a LOCK left by a
// crashed process must be removed by hand.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// syncDir is a no-op where directories cannot be fsynced.
func syncDir(string) error { return nil }

// unlockDir releases lockDir's lock by removing the file.
func unlockDir(f *os.File) error {
	err := f.Close()
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	return err
}
