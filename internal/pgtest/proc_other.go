//go:build !linux

package pgtest

import "syscall"

// sysProcAttr runs the postmaster as cred. Outside Linux there is no parent
// death signal; Main's cleanup is the only guard against a leftover server.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
