package api

// SetDraining makes GET /readyz answer 503 {"status":"draining"} (true)
// or run its checks again (false). The lifecycle code calls it when
// shutdown starts, so that load balancers stop sending new requests while
// the in-flight ones finish.
func (s *Server) SetDraining(on bool) { s.draining.Store(on) }
