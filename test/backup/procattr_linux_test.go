package backup

import "syscall"

// sysProcAttr makes a started process receive SIGKILL when the test
// process dies, so that a killed test run leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
