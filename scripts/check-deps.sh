#!/usr/bin/env bash
# Checks that what the tests need is installed, and says how to install it.
set -euo pipefail
missing=0
need() { # need CMD-or-PATH "how to install"
  if ! command -v "$1" >/dev/null 2>&1 && [[ ! -x $1 ]]; then
    echo "missing: $1 — install with: $2" >&2
    missing=1
  fi
}
need go "see https://go.dev/doc/install (Go 1.26+)"
need /usr/bin/aws "apt-get install awscli (Debian aws-cli v2: the smoke tests drive the S3 node with it)"
need rclone "apt-get install rclone (client smoke tests)"
need curl "apt-get install curl (SSE acceptance test: signed requests with --aws-sigv4)"
need systemd-analyze "apt-get install systemd (deploy tests: systemd-analyze verify and security on the units; no running systemd is needed)"
need openssl "apt-get install openssl (SSE acceptance test: key material recipes)"
if [[ ! -f ${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so} ]]; then
  echo "missing: SoftHSM2 module ${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so} — install with: apt-get install softhsm2 (pkcs11 protector tests)" >&2
  missing=1
fi
need softhsm2-util "apt-get install softhsm2 (pkcs11 protector tests: token set-up)"
if ! python3 -c 'import boto3' 2>/dev/null; then
  echo "missing: boto3 for python3 — install with: apt-get install python3-boto3" >&2
  missing=1
fi
if ! /usr/bin/python3 -c 'import kmip' 2>/dev/null; then
  echo "missing: PyKMIP for /usr/bin/python3 — install with: apt-get install python3-pykmip (KMIP client tests)" >&2
  missing=1
fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [[ -z $pgbin && -z ${S3KMS_TEST_POSTGRES:-} ]]; then
  echo "missing: PostgreSQL server binaries — install with: apt-get install postgresql (or set S3KMS_TEST_POSTGRES to a DSN)" >&2
  missing=1
fi
if [[ $(id -u) == 0 && -n $pgbin ]] && ! id postgres >/dev/null 2>&1; then
  echo "missing: the 'postgres' system user (tests run PostgreSQL as it when run as root) — apt-get install postgresql creates it" >&2
  missing=1
fi
exit $missing
