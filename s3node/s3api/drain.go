package s3api

// SetDraining makes /readyz answer 503 {"status":"draining"} (true) or run
// its checks again (false). The lifecycle code calls it when shutdown
// starts, so that load balancers stop sending new requests while the
// in-flight ones finish.
func (rd *Readiness) SetDraining(on bool) { rd.draining.Store(on) }

// Draining reports whether SetDraining(true) is in effect or the
// DrainingFrom source reports draining.
func (rd *Readiness) Draining() bool {
	return rd.draining.Load() || rd.drainingFrom != nil && rd.drainingFrom()
}

// DrainingFrom makes rd also answer "draining" whenever f reports true
// (the lifecycle's drain flag, internal/lifecycle.Drain.Draining), and
// returns rd. Call it before rd serves.
func (rd *Readiness) DrainingFrom(f func() bool) *Readiness {
	rd.drainingFrom = f
	return rd
}
