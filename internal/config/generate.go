package config

// docs/config.md, the configuration reference, is generated from this
// package's structures, doc comments and defaults.
//go:generate go run ./configdoc -src . -o ../../docs/config.md
