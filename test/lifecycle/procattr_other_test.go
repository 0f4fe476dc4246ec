//go:build !linux

package lifecycle

import "syscall"

// sysProcAttr has nothing to set outside Linux.
func sysProcAttr() *syscall.SysProcAttr { return nil }
