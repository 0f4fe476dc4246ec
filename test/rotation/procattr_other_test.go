//go:build !linux

package rotation

import "syscall"

// sysProcAttr has nothing to set outside Linux.
func sysProcAttr() *syscall.SysProcAttr { return nil }
