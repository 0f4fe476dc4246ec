package config

import (
	"fmt"
	"time"
)

// Lifecycle configures how a service stops; both the KMS and the S3 node
// have these options at the top level of their files.
type Lifecycle struct {
	// ShutdownTimeout bounds how long a stopping service (SIGTERM or
	// SIGINT) waits for requests in flight (and KMIP batches) to finish;
	// connections still busy then are cut. A second signal stops at once.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long a stopping service keeps serving with its
	// readiness reporting "draining" before it stops accepting, so that
	// load balancers take it out first. 0 stops accepting at once.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
}

// Defaults of the lifecycle and TLS reload options.
const (
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultTLSReloadInterval = 5 * time.Second
)

// DefaultLifecycle returns the lifecycle defaults.
func DefaultLifecycle() Lifecycle {
	return Lifecycle{ShutdownTimeout: DefaultShutdownTimeout}
}

// validate checks the lifecycle options and tls.reload_interval.
func (l Lifecycle) validate(tlsReload time.Duration) []string {
	var errs []string
	if l.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Sprintf("shutdown_timeout %v is not above 0", l.ShutdownTimeout))
	}
	if l.ShutdownDelay < 0 {
		errs = append(errs, "shutdown_delay is negative")
	}
	if tlsReload < 0 {
		errs = append(errs, "tls.reload_interval is negative (0 turns polling off; SIGHUP still reloads)")
	}
	return errs
}
