//go:build !unix

package tlsreload

import (
	"fmt"
	"os"
)

// stamp describes a file's version: size and modification time; "" when
// it cannot be stat'ed.
func stamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
}
