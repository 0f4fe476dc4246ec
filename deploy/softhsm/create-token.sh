#!/usr/bin/env bash
# Creates a SoftHSM2 token for a test or demo environment of the s3kms
# pkcs11 protector, and the master key in it. Safe to run again: what
# exists is kept (same token, same PIN, same master key).
set -euo pipefail

usage() {
  cat <<USAGE
usage: $(basename "$0") [--dir DIR] [--label LABEL] [--module PATH] [--master-key-id ID]

Creates, under DIR (default ./softhsm), once:
  DIR/softhsm2.conf    a SoftHSM2 configuration of its own (tokens in DIR/tokens)
  DIR/pin, DIR/so-pin  random user and security-officer PINs (mode 0600)
  DIR/protector.yaml   the protector section of kms.yaml for this token
a token labelled LABEL (default s3kms-demo), then runs
\`s3kms kms hsm init --config DIR/protector.yaml\`, which creates the master
key (CKA_ID ID, default s3kms-master) unless it exists.

Every s3kms process that uses the token needs SOFTHSM2_CONF=DIR/softhsm2.conf
in its environment. SoftHSM keeps keys in plain files under DIR/tokens,
protected by the PIN only: for tests and demos, not production.

Environment:
  S3KMS            the s3kms command (default: s3kms if on PATH, else
                   "go run ./cmd/s3kms" in this repository)
  SOFTHSM2_MODULE  the module when --module is not given
                   (default /usr/lib/softhsm/libsofthsm2.so)
USAGE
}

dir=softhsm
label="s3kms-demo"
module=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
master_id="s3kms-master"
while (($#)); do
  case $1 in
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --label) label=${2:?--label needs a value}; shift 2 ;;
    --module) module=${2:?--module needs a value}; shift 2 ;;
    --master-key-id) master_id=${2:?--master-key-id needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$(basename "$0"): unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [[ ! -f $module ]]; then
  echo "SoftHSM2 module $module not found: apt-get install softhsm2 (or pass --module)" >&2
  exit 1
fi
command -v softhsm2-util >/dev/null || { echo "softhsm2-util not found: apt-get install softhsm2" >&2; exit 1; }
if [[ -n ${S3KMS:-} ]]; then
  read -r -a s3kms <<<"$S3KMS"
elif command -v s3kms >/dev/null; then
  s3kms=(s3kms)
else
  repo=$(cd "$(dirname "$0")/../.." && pwd)
  s3kms=(go -C "$repo" run ./cmd/s3kms)
fi

umask 077
mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
export SOFTHSM2_CONF=$dir/softhsm2.conf
if [[ ! -f $SOFTHSM2_CONF ]]; then
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$dir/tokens" >"$SOFTHSM2_CONF"
fi
newpin() { # newpin FILE: 32 random hex digits, mode 0600, unless FILE exists
  [[ -f $1 ]] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$1"
  chmod 600 "$1"
}
newpin "$dir/pin"
newpin "$dir/so-pin"

token_labels() { softhsm2-util --show-slots | sed -n 's/^[[:space:]]*Label:[[:space:]]*//p' | sed 's/[[:space:]]*$//'; }
if token_labels | grep -Fxq -- "$label"; then
  echo "token $label exists"
else
  softhsm2-util --init-token --free --label "$label" --pin "$(<"$dir/pin")" --so-pin "$(<"$dir/so-pin")" >/dev/null
  echo "token $label created"
fi

cat >"$dir/protector.yaml" <<YAML
# Written by deploy/softhsm/create-token.sh: the protector section of
# kms.yaml for the SoftHSM token $label. Run s3kms with
# SOFTHSM2_CONF=$SOFTHSM2_CONF in its environment.
protector:
  kind: pkcs11
  module: '$module'
  token_label: '$label'
  pin_file: '$dir/pin'
  master_key_id: '$master_id'
YAML

"${s3kms[@]}" kms hsm init --config "$dir/protector.yaml"

cat <<DONE
Use it:
  export SOFTHSM2_CONF=$SOFTHSM2_CONF
  s3kms dev --hsm-module $module --hsm-token $label --hsm-pin-file $dir/pin --hsm-master-key-id $master_id
or put the protector section of $dir/protector.yaml in kms.yaml.
DONE
