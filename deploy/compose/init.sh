#!/bin/sh
# One-shot set-up of the compose cluster (service "init"): the CA, the
# server and client certificates, and the master key. Anything that exists
# is kept, so later starts change nothing and identities stay stable.
set -eu
cd /tls
[ -f ca.crt ] || s3kms certs ca --out /tls --name "s3kms compose CA"
# One KMS certificate for both processes and the name the nodes use.
[ -f kms.crt ] || s3kms certs server --ca /tls --name kms --dns kms,kms-a,kms-b,localhost --out /tls
[ -f s3.crt ] || s3kms certs server --ca /tls --name s3 --dns localhost,s3-a,s3-b --ip 127.0.0.1 --out /tls
for c in s3node admin; do
  [ -f "$c.crt" ] || s3kms certs client --ca /tls --name "$c" --out /tls
done
# The master key: 32 random bytes (master_key_file accepts raw bytes).
if [ ! -f /secrets/master.key ]; then
  umask 077
  head -c 32 /dev/urandom > /secrets/master.key.tmp
  mv /secrets/master.key.tmp /secrets/master.key
fi
# The CA key is needed only to issue more certificates: in production keep it
# off the cluster (this compose file is a demo on one host).
echo "init: TLS material in /tls, master key in /secrets"
