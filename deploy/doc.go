// Package deploy holds no code: it is the home of the deployment files
// (systemd units, production example configurations, the compose file,
// the Dockerfile and the Kubernetes manifests) and of the tests that
// check them. See README.md in this directory.
//
// The tests validate every file without a container engine, a systemd
// PID 1 or a Kubernetes API server, none of which CI has:
//
//   - the systemd units pass `systemd-analyze verify`, their exposure
//     score (`systemd-analyze security --offline=yes`) stays at or below
//     maxExposure, and each unit's ExecStart line, run as written on the
//     example configuration and environment file (paths moved into a
//     temporary directory), serves and stops within TimeoutStopSec on
//     KillSignal;
//   - every example configuration loads with internal/config;
//   - the compose file loads with compose-go (the compose specification's
//     schema) and its services' configurations load too;
//   - every Kubernetes document decodes strictly into its k8s.io/api type
//     (an unknown field fails) and keeps the invariants of k8s_test.go.
package deploy
