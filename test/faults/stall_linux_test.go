package faults

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// freezePostgres stops (SIGSTOP) the postmaster of cluster and every
// backend it forked: the server keeps its connections open but answers
// nothing, as a stalled disk or a paused VM would. It returns the
// function that resumes them (SIGCONT).
func freezePostgres(t *testing.T, cluster *pgtest.Cluster) (thaw func()) {
	t.Helper()
	port := dsnField(cluster.TCPDSN("postgres"), "port")
	var postmaster int
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "\x00-p\x00"+port+"\x00") {
			postmaster, _ = strconv.Atoi(strings.Split(p, "/")[2])
		}
	}
	if postmaster == 0 {
		t.Fatalf("no postmaster listening on port %s in /proc", port)
	}
	pids := []int{postmaster}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, _ := os.ReadFile(p)
		s := string(b)
		fields := strings.Fields(s[strings.LastIndex(s, ")")+1:]) // state, ppid, …
		if len(fields) > 1 && fields[1] == strconv.Itoa(postmaster) {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	t.Logf("froze PostgreSQL: postmaster and %d child processes (SIGSTOP)", len(pids)-1)
	thawed := false
	thaw = func() {
		if thawed {
			return
		}
		thawed = true
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	return thaw
}

// dsnField returns the value of name in a keyword/value connection string.
func dsnField(dsn, name string) string {
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}
