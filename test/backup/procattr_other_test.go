//go:build !linux

package backup

import "syscall"

// sysProcAttr has nothing to set outside Linux.
func sysProcAttr() *syscall.SysProcAttr { return nil }
