package pgtest

import "syscall"

// sysProcAttr makes the postmaster run as cred (nil: as ourselves) and
// receive SIGQUIT (immediate shutdown) when the test process dies, so a
// test binary killed by a timeout or a signal leaves no server behind.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
