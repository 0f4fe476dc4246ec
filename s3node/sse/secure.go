package sse

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/s3kms/s3kms/s3node/s3err"
)

// Secure reports whether r may carry SSE-C headers (D3, SSE-SPEC §1.6):
// it arrived over TLS, or from an address in trustedProxies with
// X-Forwarded-Proto: https (its last entry, the one that proxy wrote), or
// allowHTTP (the explicit switch for test rigs) is set. The caller applies
// it when HasCustomerHeaders, answering ErrInsecure otherwise.
func Secure(r *http.Request, trustedProxies []netip.Prefix, allowHTTP bool) bool {
	if allowHTTP || r.TLS != nil {
		return true
	}
	// The last entry is the one the connecting proxy wrote; earlier ones
	// may come from the client.
	vs := r.Header.Values("X-Forwarded-Proto")
	if len(vs) == 0 {
		return false
	}
	last := vs[len(vs)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	if !strings.EqualFold(strings.TrimSpace(last), "https") {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = ap.Addr()
	} else if addr, err = netip.ParseAddr(r.RemoteAddr); err != nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range trustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ErrInsecure is the D3 refusal of SSE-C over plain HTTP: 400
// InvalidRequest (SSE-SPEC §1.3 W9).
func ErrInsecure() *s3err.Error {
	return s3err.Msg(s3err.InvalidRequest, msgInsecure)
}
