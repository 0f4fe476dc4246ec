//go:build unix

package tlsreload

import (
	"fmt"
	"os"
	"syscall"
)

// stamp describes a file's identity and version: inode, size and
// modification time; "" when it cannot be stat'ed.
func stamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return fmt.Sprintf("%d/%d/%d", ino, fi.Size(), fi.ModTime().UnixNano())
}
