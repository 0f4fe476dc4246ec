//go:build !linux

package faults

import "syscall"

// sysProcAttr has nothing to set outside Linux.
func sysProcAttr() *syscall.SysProcAttr { return nil }
