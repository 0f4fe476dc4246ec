package main

import (
	"net"
	"slices"
)

func splitHost(addr string) (host, port string, err error) {
	return net.SplitHostPort(addr)
}

// dialAddr turns a listen address into one a local client can dial: an
// unspecified host (":7373", "0.0.0.0:7373") becomes 127.0.0.1.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
