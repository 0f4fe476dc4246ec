//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package blobfs

import (
	"errors"
	"os"
)

// tryLock cannot lock on this system: the sweeper relies on the temp
// files' age alone.
func tryLock(*os.File) (bool, error) { return false, errors.ErrUnsupported }
