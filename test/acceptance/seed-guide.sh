#!/usr/bin/env bash
# Acceptance test of server-side encryption against the seed guides
# (shared/SSE-SPEC.md §7): every aws-cli command of the OVHcloud SSE-C /
# SSE-S3 guide (rows A1–A15 of §7.2) and the extra checks X1–X12 of §7.3,
# run with aws-cli and checked against the expected outcome.
#
# Usage:  test/acceptance/seed-guide.sh [DIR/dev.env]
#
# Without an argument the environment is used as is. Variables:
#   S3KMS_S3_ENDPOINT (or AWS_ENDPOINT_URL)  HTTPS endpoint of the S3 node
#   S3KMS_S3_HTTP_ENDPOINT  plain-HTTP endpoint (X9; `s3kms dev --s3-http-addr`)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_CA_BUNDLE
#   AWSCLI        aws-cli command (default: aws); v2 expected (exit 254 on
#                 service errors), v1 is recognised (255)
#   MAGIC         file for the SSE-C rows (default /etc/magic, else a
#                 generated file)
#   SSE_DEFAULT_MODE  legacy (default, SSE-SPEC D5) or aws2023 (the server
#                 runs with encryption.default_sse_s3)
#   ACCEPTANCE_STRICT=1  a check that cannot run here (no HTTP endpoint,
#                 curl without --aws-sigv4) counts as a failure
#
# Each check prints "ok   ID description" or "FAIL ID description" followed
# by what was expected and what came. Exits 1 if any check failed. Uses a
# fresh bucket and removes it at the end, also on failure. Key material is
# never printed.
#
# The seed's K2/K3 recipes run in subshells that reuse the seed's variable
# names (encKey, md5Key) on purpose:
# shellcheck disable=SC2030,SC2031
set -uo pipefail

if [[ $# -ge 1 ]]; then
  # shellcheck disable=SC1090
  source "$1" || { echo "FAIL setup cannot source $1"; exit 2; }
fi
export AWS_PAGER=""
read -ra AWSCMD <<<"${AWSCLI:-aws}"
ENDPOINT=${S3KMS_S3_ENDPOINT:-${AWS_ENDPOINT_URL:-}}
HTTP_ENDPOINT=${S3KMS_S3_HTTP_ENDPOINT:-}
STRICT=${ACCEPTANCE_STRICT:-0}
MODE=${SSE_DEFAULT_MODE:-legacy}

for c in openssl python3 md5sum base64 cmp; do
  command -v "$c" >/dev/null || { echo "FAIL setup $c is required"; exit 2; }
done
if ! ver=$("${AWSCMD[@]}" --version 2>&1); then
  echo "FAIL setup ${AWSCLI:-aws} does not run: $ver"; exit 2
fi
case $ver in
  aws-cli/2.*) SVC_RC=254 ;;
  *) SVC_RC=255 ;;
esac

# aws is the aws-cli of the seed commands, pointed at the node. The seed
# commands below read exactly as in the guide, plus the endpoint.
aws() {
  if [[ -n $ENDPOINT ]]; then
    "${AWSCMD[@]}" --output json --endpoint-url "$ENDPOINT" "$@"
  else
    "${AWSCMD[@]}" --output json "$@"
  fi
}
aws_http() { "${AWSCMD[@]}" --output json --endpoint-url "$HTTP_ENDPOINT" "$@"; }

T=$(mktemp -d "${TMPDIR:-/tmp}/seed-guide.XXXXXX")
B=acc-sse-$(date +%s)-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
cd "$T" || exit 2

cleanup() {
  local rc=$?
  if [[ -n ${BUCKET_MADE:-} ]]; then
    aws s3api list-multipart-uploads --bucket "$B" \
      --query 'Uploads[].[Key,UploadId]' --output text 2>/dev/null |
      while read -r k id; do
        [[ -n $id && $id != None ]] && aws s3api abort-multipart-upload --bucket "$B" --key "$k" --upload-id "$id" >/dev/null 2>&1
      done
    aws s3 rm --recursive --quiet "s3://$B" >/dev/null 2>&1
    if ! aws s3 rb "s3://$B" >/dev/null 2>"$T/rb.err"; then
      echo "warning: could not remove bucket $B: $(head -n1 "$T/rb.err")" >&2
    fi
  fi
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- reporting ----------------------------------------------------------
PASSED=0 FAILED=0 SKIPPED=0
SECRETS=()
redact() {
  local s=$1 k
  for k in "${SECRETS[@]}"; do [[ -n $k ]] && s=${s//"$k"/<key>}; done
  printf '%s' "$s"
}
begin() { ID=$1; DESC=$2; PROBS=(); }
problem() { PROBS+=("$*"); }
end() {
  if ((${#PROBS[@]} == 0)); then
    printf 'ok   %s %s\n' "$ID" "$DESC"; PASSED=$((PASSED + 1))
  else
    printf 'FAIL %s %s\n' "$ID" "$DESC"; FAILED=$((FAILED + 1))
    local p
    for p in "${PROBS[@]}"; do printf '       %s\n' "$(redact "$p")"; done
  fi
}
skip() {
  if [[ $STRICT == 1 ]]; then
    printf 'FAIL %s %s: cannot run: %s\n' "$1" "$2" "$3"; FAILED=$((FAILED + 1))
  else
    printf 'skip %s %s: %s\n' "$1" "$2" "$3"; SKIPPED=$((SKIPPED + 1))
  fi
}

# run CMD...: runs a command, stdout in $T/out, stderr in $T/err, status in RC.
run() { "$@" >"$T/out" 2>"$T/err"; RC=$?; }
errline() { head -c 400 "$T/err" | tr '\n' ' '; }
want_rc() { # want_rc N
  [[ $RC == "$1" ]] || problem "exit status: expected $1, got $RC; stderr: $(errline)"
}
want_ok() { want_rc 0; }
# want_err OP CODE MESSAGE: a service error as aws-cli prints it.
want_err() {
  want_rc "$SVC_RC"
  local s="An error occurred ($2) when calling the $1 operation: $3"
  grep -qF -- "$s" "$T/err" || problem "stderr: expected \"$s\", got: $(errline)"
}
# js PATH [FILE]: a JSON field of the last output (dotted path), "<absent>" if missing.
js() {
  python3 - "${2:-$T/out}" "$1" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("<no-json>"); sys.exit()
for p in sys.argv[2].split("."):
    if isinstance(d, dict) and p in d:
        d = d[p]
    elif isinstance(d, list) and p.isdigit() and int(p) < len(d):
        d = d[int(p)]
    else:
        print("<absent>"); sys.exit()
print(json.dumps(d, sort_keys=True) if isinstance(d, (dict, list, bool)) or d is None else d)
EOF
}
want_js() { # want_js PATH VALUE
  local got; got=$(js "$1")
  [[ $got == "$2" ]] || problem "$1: expected $2, got $got"
}
want_js_absent() {
  local got; got=$(js "$1")
  [[ $got == "<absent>" ]] || problem "$1: expected absent, got $got"
}
want_eq() { # want_eq WHAT EXPECTED GOT
  [[ $3 == "$2" ]] || problem "$1: expected $2, got $3"
}
want_same_file() { # want_same_file ORIGINAL COPY
  if [[ ! -f $2 ]]; then problem "no file $2 was written"
  elif ! cmp -s "$1" "$2"; then problem "$2 differs from $1"; fi
}
want_out_has() {
  grep -qF -- "$1" "$T/out" || problem "stdout: expected \"$1\", got: $(head -c 300 "$T/out" | tr '\n' ' ')"
}
# canon: JSON on stdin, printed with sorted keys ("<no-json>" if it is not JSON).
canon() { python3 -c 'import json,sys
try: print(json.dumps(json.load(sys.stdin), sort_keys=True))
except Exception: print("<no-json>")'; }
md5hex() { md5sum "$1" | awk '{print $1}'; }
size() { wc -c <"$1" | tr -d ' '; }
etag() { local e; e=$(js ETag); printf '%s' "${e//\"/}"; } # ETag of the last output, unquoted
is_hex32() { [[ $1 =~ ^[0-9a-f]{32}$ ]]; }

# ---- fixtures ------------------------------------------------------------
MAGIC=${MAGIC:-/etc/magic}
if [[ ! -r $MAGIC ]]; then
  MAGIC=$T/magic
  printf '# Magic local data for file(1) command.\n# Insert here your local magic data. Format is described in magic(5).\n\n' >"$MAGIC"
fi
MAGIC_MD5=$(md5hex "$MAGIC")
MAGIC_SIZE=$(size "$MAGIC")

# K5: 32 random bytes in a file; key = base64 of the file; MD5 = base64 of
# the binary MD5 of the file (SSE-SPEC §7.1).
k5() { # k5 FILE: sets K_KEY and K_MD5
  head -c 32 /dev/urandom >"$1"
  K_KEY=$(openssl base64 -A <"$1")
  K_MD5=$(openssl dgst -md5 -binary "$1" | openssl base64 -A)
}
k5 "$T/key1.bin"; encKey=$K_KEY; md5Key=$K_MD5
k5 "$T/key2.bin"; encKey2=$K_KEY; md5Key2=$K_MD5
k5 "$T/key-http.bin"; encKeyHTTP=$K_KEY; md5KeyHTTP=$K_MD5
head -c 16 /dev/urandom >"$T/key16.bin"
encKey16=$(openssl base64 -A <"$T/key16.bin")
md5Key16=$(openssl dgst -md5 -binary "$T/key16.bin" | openssl base64 -A)
SECRETS+=("$encKey" "$encKey2" "$encKeyHTTP" "$encKey16")

printf 'SSE-S3 acceptance file, %s\n' "$B" >"$T/file.txt"
for _ in $(seq 200); do printf 'the quick brown fox jumps over the lazy dog\n'; done >>"$T/file.txt"
F=$T/file.txt F_MD5=$(md5hex "$T/file.txt") F_SIZE=$(size "$T/file.txt")

echo "# endpoint ${ENDPOINT:-<aws default>}, bucket $B, ${ver%% *}, mode $MODE"
if ! run aws s3 mb "s3://$B"; then
  echo "FAIL setup cannot create bucket $B: $(errline)"; exit 1
fi
BUCKET_MADE=1

# ---- SSE-C: the seed's main sequence (A1–A6) with K5 key material --------
begin A1 "put-object SSE-C (K5 key): SSECustomerAlgorithm/KeyMD5 echoed, ETag not the MD5, no ServerSideEncryption"
run aws s3api put-object \
  --body "$MAGIC" \
  --bucket "$B" \
  --key encrypt_magic \
  --sse-customer-algorithm AES256 \
  --sse-customer-key "$encKey" \
  --sse-customer-key-md5 "$md5Key"
want_ok
want_js SSECustomerAlgorithm AES256
want_js SSECustomerKeyMD5 "$md5Key"
want_js_absent ServerSideEncryption
A1_ETAG=$(etag)
is_hex32 "$A1_ETAG" || problem "ETag: expected 32 hex digits, got $A1_ETAG"
[[ $A1_ETAG != "$MAGIC_MD5" ]] || problem "ETag equals md5sum of the file ($MAGIC_MD5); SSE-C ETags must not be the plaintext MD5 (D9)"
end

begin A2 "get-object SSE-C with the key: file identical, ContentLength, same ETag, SSE-C fields"
rm -f decrypt_magic
run aws s3api get-object \
  --bucket "$B" \
  --key encrypt_magic \
  --sse-customer-algorithm AES256 \
  --sse-customer-key "$encKey" \
  --sse-customer-key-md5 "$md5Key" \
  decrypt_magic
want_ok
want_same_file "$MAGIC" decrypt_magic
want_js ContentLength "$MAGIC_SIZE"
want_eq ETag "$A1_ETAG" "$(etag)"
want_js SSECustomerAlgorithm AES256
want_js SSECustomerKeyMD5 "$md5Key"
end

begin A3 "get-object of the SSE-C object without SSE-C options: InvalidRequest"
rm -f decrypt_magic
run aws s3api get-object \
  --bucket "$B" \
  --key encrypt_magic \
  decrypt_magic
want_err GetObject InvalidRequest "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
end

begin A3b "aws s3 cp of the SSE-C object without key: the seed's (400) HeadObject Bad Request"
run aws s3 cp "s3://$B/encrypt_magic" decrypt_magic
[[ $RC != 0 ]] || problem "exit status: expected non-zero, got 0"
grep -qF "An error occurred (400) when calling the HeadObject operation: Bad Request" "$T/err" ||
  problem "stderr: expected \"(400) when calling the HeadObject operation: Bad Request\", got: $(errline)"
end

begin A4 "head-object SSE-C with the key: ContentLength, ETag = A1, SSE-C fields"
run aws s3api head-object \
  --bucket "$B" \
  --key encrypt_magic \
  --sse-customer-algorithm AES256 \
  --sse-customer-key "$encKey" \
  --sse-customer-key-md5 "$md5Key"
want_ok
want_js ContentLength "$MAGIC_SIZE"
want_eq ETag "$A1_ETAG" "$(etag)"
[[ $(etag) != "$MAGIC_MD5" ]] || problem "ETag equals md5sum of the file"
want_js SSECustomerAlgorithm AES256
want_js SSECustomerKeyMD5 "$md5Key"
want_js_absent ServerSideEncryption
[[ $(js LastModified) != "<absent>" ]] || problem "LastModified absent"
[[ $(js ContentType) != "<absent>" ]] || problem "ContentType absent"
end

begin A5 "head-object of the SSE-C object without SSE-C options: (400) Bad Request"
run aws s3api head-object \
  --bucket "$B" \
  --key encrypt_magic
want_err HeadObject 400 "Bad Request"
end

begin A5b "head-object of the SSE-C object with another key: (403) Forbidden"
run aws s3api head-object --bucket "$B" --key encrypt_magic \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey2" --sse-customer-key-md5 "$md5Key2"
want_err HeadObject 403 "Forbidden"
end

begin X1 "get-object of the SSE-C object with another valid key: AccessDenied"
rm -f decrypt_magic
run aws s3api get-object --bucket "$B" --key encrypt_magic \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey2" --sse-customer-key-md5 "$md5Key2" decrypt_magic
want_err GetObject AccessDenied "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key."
end

begin X2 "put-object SSE-C with algorithm AES128: InvalidEncryptionAlgorithmError"
run aws s3api put-object --body "$MAGIC" --bucket "$B" --key x2 \
  --sse-customer-algorithm AES128 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_err PutObject InvalidEncryptionAlgorithmError "The Encryption request you specified is not valid. Supported value: AES256."
end

begin X3 "put-object SSE-C plus --server-side-encryption AES256: InvalidArgument incompatible"
run aws s3api put-object --body "$MAGIC" --bucket "$B" --key x3 --server-side-encryption AES256 \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_err PutObject InvalidArgument "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
end

begin X4 "put-object SSE-C with a 16-byte key and its MD5: InvalidArgument secret key invalid"
run aws s3api put-object --body "$MAGIC" --bucket "$B" --key x4 \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey16" --sse-customer-key-md5 "$md5Key16"
want_err PutObject InvalidArgument "The secret key was invalid for the specified algorithm."
end

begin X8a "get-object-attributes of the SSE-C object without key: 400 InvalidRequest"
run aws s3api get-object-attributes --bucket "$B" --key encrypt_magic --object-attributes ETag ObjectSize
want_err GetObjectAttributes InvalidRequest "The object was stored using a form of Server Side Encryption."
end

begin X8b "get-object-attributes with the key: ETag unquoted = A1, ObjectSize plaintext"
run aws s3api get-object-attributes --bucket "$B" --key encrypt_magic --object-attributes ETag ObjectSize \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_ok
want_js ETag "$A1_ETAG"
want_js ObjectSize "$MAGIC_SIZE"
end

if [[ -n $HTTP_ENDPOINT ]]; then
  begin X9 "SSE-C put-object and get-object over plain HTTP: InvalidRequest secure connection"
  run aws_http s3api put-object --body "$MAGIC" --bucket "$B" --key x9 \
    --sse-customer-algorithm AES256 --sse-customer-key "$encKeyHTTP" --sse-customer-key-md5 "$md5KeyHTTP"
  want_err PutObject InvalidRequest "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
  rm -f x9.out
  run aws_http s3api get-object --bucket "$B" --key encrypt_magic \
    --sse-customer-algorithm AES256 --sse-customer-key "$encKeyHTTP" --sse-customer-key-md5 "$md5KeyHTTP" x9.out
  want_err GetObject InvalidRequest "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
  run aws_http s3api head-object --bucket "$B" --key x9
  if [[ $RC != "$SVC_RC" ]] || ! grep -qF "(404)" "$T/err"; then
    problem "x9 exists after the refused put (head-object: exit $RC, $(errline))"
  fi
  end
else
  skip X9 "SSE-C over plain HTTP" "S3KMS_S3_HTTP_ENDPOINT is not set (s3kms dev --s3-http-addr 127.0.0.1:0)"
fi

# ---- the seed's K2 and K3 recipes, exactly as written: MD5 mismatch -------
MD5_MISMATCH="The calculated MD5 hash of the key did not match the hash that was provided."

begin A1-K2 "seed K2 recipe (echo \$encKey | md5sum | base64): put-object fails with the MD5 mismatch"
# shellcheck disable=SC2086
(
  encKey=$(openssl rand -base64 32)
  md5Key=$(echo $encKey | md5sum | awk '{print $1}' | base64 -w0)
  aws s3api put-object \
    --body "$MAGIC" \
    --bucket "$B" \
    --key encrypt_magic_k2 \
    --sse-customer-algorithm AES256 \
    --sse-customer-key $encKey \
    --sse-customer-key-md5 $md5Key
) >"$T/out" 2>"$T/err"
RC=$?
want_err PutObject InvalidArgument "$MD5_MISMATCH"
end

begin A2-K2 "seed K2 recipe: get-object of an SSE-C object fails with the MD5 mismatch"
# shellcheck disable=SC2086
(
  encKey=$(openssl rand -base64 32)
  md5Key=$(echo $encKey | md5sum | awk '{print $1}' | base64 -w0)
  aws s3api get-object \
    --bucket "$B" \
    --key encrypt_magic \
    --sse-customer-algorithm AES256 \
    --sse-customer-key $encKey \
    --sse-customer-key-md5 $md5Key \
    decrypt_magic_k2
) >"$T/out" 2>"$T/err"
RC=$?
want_err GetObject InvalidArgument "$MD5_MISMATCH"
end

begin A4-K2 "seed K2 recipe: head-object of an SSE-C object gives (400) Bad Request"
# shellcheck disable=SC2086
(
  encKey=$(openssl rand -base64 32)
  md5Key=$(echo $encKey | md5sum | awk '{print $1}' | base64 -w0)
  aws s3api head-object \
    --bucket "$B" \
    --key encrypt_magic \
    --sse-customer-algorithm AES256 \
    --sse-customer-key $encKey \
    --sse-customer-key-md5 $md5Key
) >"$T/out" 2>"$T/err"
RC=$?
want_err HeadObject 400 "Bad Request"
end

begin A14 "seed K3 recipe (echo -n \$sse_c_key | openssl md5): put-object and get-object fail with the MD5 mismatch"
# shellcheck disable=SC2086
(
  # Creating an encryption key and its MD5 fingerprint
  sse_c_key=$(openssl rand -base64 32)
  sse_c_key_md5=$(echo -n $sse_c_key | openssl md5 -binary | base64)
  # Uploading an object with SSE-C encryption
  aws s3api put-object \
    --bucket "$B" \
    --key your-object \
    --body "$F" \
    --sse-customer-algorithm AES256 \
    --sse-customer-key $sse_c_key \
    --sse-customer-key-md5 $sse_c_key_md5
) >"$T/out" 2>"$T/err"
RC=$?
want_err PutObject InvalidArgument "$MD5_MISMATCH"
# shellcheck disable=SC2086
(
  sse_c_key=$(openssl rand -base64 32)
  sse_c_key_md5=$(echo -n $sse_c_key | openssl md5 -binary | base64)
  # Retrieving an object with SSE-C encryption (an existing SSE-C object)
  aws s3api get-object \
    --bucket "$B" \
    --key encrypt_magic \
    --sse-customer-algorithm AES256 \
    --sse-customer-key $sse_c_key \
    --sse-customer-key-md5 $sse_c_key_md5 \
    destination-file
) >"$T/out" 2>"$T/err"
RC=$?
want_err GetObject InvalidArgument "$MD5_MISMATCH"
end

begin A6 "aws s3 rm of the SSE-C object (no key needed)"
run aws s3 rm "s3://$B/encrypt_magic"
want_ok
want_out_has "delete: s3://$B/encrypt_magic"
run aws s3api head-object --bucket "$B" --key encrypt_magic \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_err HeadObject 404 "Not Found"
end

# ---- SSE-C multipart, copy and rotation (X5–X7) ---------------------------
head -c $((12 << 20)) /dev/urandom >"$T/big.bin" # 12 MiB: two parts with aws s3 cp's 8 MiB default
begin X5 "aws s3 cp 12 MiB --sse-c fileb:// (multipart) up and down, ranged GET across the part boundary"
run aws s3 cp "$T/big.bin" "s3://$B/big" --sse-c AES256 --sse-c-key "fileb://$T/key1.bin"
want_ok
run aws s3api head-object --bucket "$B" --key big \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_ok
[[ $(etag) =~ ^[0-9a-f]{32}-2$ ]] || problem "ETag: expected <32 hex>-2, got $(etag)"
want_js ContentLength $((12 << 20))
want_js SSECustomerKeyMD5 "$md5Key"
rm -f big.out
run aws s3 cp "s3://$B/big" big.out --sse-c AES256 --sse-c-key "fileb://$T/key1.bin"
want_ok
want_same_file "$T/big.bin" big.out
rm -f range.out
run aws s3api get-object --bucket "$B" --key big --range bytes=8388600-8388615 \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key" range.out
want_ok
tail -c +8388601 "$T/big.bin" | head -c 16 >range.want
want_same_file range.want range.out
want_js ContentLength 16
end

begin X6 "aws s3 cp SSE-C object to another key with a new key (--sse-c-copy-source): readable only with the new key"
run aws s3 cp "s3://$B/big" "s3://$B/big2" --sse-c-copy-source AES256 --sse-c-copy-source-key "fileb://$T/key1.bin" \
  --sse-c AES256 --sse-c-key "fileb://$T/key2.bin"
want_ok
rm -f big2.out
run aws s3api get-object --bucket "$B" --key big2 \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey2" --sse-customer-key-md5 "$md5Key2" big2.out
want_ok
want_same_file "$T/big.bin" big2.out
want_js SSECustomerKeyMD5 "$md5Key2"
run aws s3api head-object --bucket "$B" --key big2 \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_err HeadObject 403 "Forbidden"
end

begin X7 "SSE-C key rotation by in-place copy-object: new key works, old key 403"
run aws s3api put-object --body "$MAGIC" --bucket "$B" --key rotate_me \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_ok
run aws s3api copy-object --bucket "$B" --key rotate_me --copy-source "$B/rotate_me" \
  --copy-source-sse-customer-algorithm AES256 --copy-source-sse-customer-key "$encKey" --copy-source-sse-customer-key-md5 "$md5Key" \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey2" --sse-customer-key-md5 "$md5Key2"
want_ok
want_js SSECustomerKeyMD5 "$md5Key2"
rm -f rotated.out
run aws s3api get-object --bucket "$B" --key rotate_me \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey2" --sse-customer-key-md5 "$md5Key2" rotated.out
want_ok
want_same_file "$MAGIC" rotated.out
run aws s3api head-object --bucket "$B" --key rotate_me \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_err HeadObject 403 "Forbidden"
end

# ---- SSE-S3 (A7–A9, A15, X12) ---------------------------------------------
begin A7 "put-object --server-side-encryption AES256: ETag = MD5, ServerSideEncryption AES256"
run aws s3api put-object --bucket "$B" --key your-object --body "$F" --server-side-encryption AES256 ${ENDPOINT:+--endpoint-url "$ENDPOINT"}
want_ok
want_eq ETag "$F_MD5" "$(etag)"
want_js ServerSideEncryption AES256
want_js_absent SSECustomerAlgorithm
end

begin A8 "get-object of the SSE-S3 object without options: identical, ServerSideEncryption AES256, ETag = MD5"
rm -f destination-file
run aws s3api get-object --bucket "$B" --key your-object destination-file ${ENDPOINT:+--endpoint-url "$ENDPOINT"}
want_ok
want_same_file "$F" destination-file
want_js ServerSideEncryption AES256
want_eq ETag "$F_MD5" "$(etag)"
want_js ContentLength "$F_SIZE"
end

begin A9a "get-object of the SSE-S3 object with SSE-C options: InvalidRequest not applicable"
rm -f a9.out
run aws s3api get-object --bucket "$B" --key your-object \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key" a9.out
want_err GetObject InvalidRequest "The encryption parameters are not applicable to this object."
end

begin A9b "head-object of the SSE-S3 object with SSE-C options: (400) Bad Request"
run aws s3api head-object --bucket "$B" --key your-object \
  --sse-customer-algorithm AES256 --sse-customer-key "$encKey" --sse-customer-key-md5 "$md5Key"
want_err HeadObject 400 "Bad Request"
end

begin A9c "get-object --server-side-encryption AES256 (the seed's troubleshooting hint): aws-cli rejects it, exit 252"
run aws s3api get-object --bucket "$B" --key your-object --server-side-encryption AES256 a9c.out
want_rc 252
grep -qF "Unknown options" "$T/err" || problem "stderr: expected \"Unknown options\", got: $(errline)"
end

CURL_OK=
if command -v curl >/dev/null && curl --help all 2>/dev/null | grep -q -- --aws-sigv4; then CURL_OK=1; fi
if [[ -n $CURL_OK && -n $ENDPOINT ]]; then
  begin X12 "GET and HEAD of the SSE-S3 object with header x-amz-server-side-encryption: 400 (curl --aws-sigv4)"
  umask 077
  printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T/curl.conf" # keeps the secret off the command line
  region=${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}
  curlx() {
    curl -sS -K "$T/curl.conf" --aws-sigv4 "aws:amz:$region:s3" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' ${AWS_CA_BUNDLE:+--cacert "$AWS_CA_BUNDLE"} \
      -o "$T/curl.body" -w '%{http_code}' "$@" "$ENDPOINT/$B/your-object" 2>"$T/err"
  }
  code=$(curlx)
  want_eq "control GET without the header (signing works)" 200 "$code"
  code=$(curlx -H 'x-amz-server-side-encryption: AES256')
  want_eq "GET status" 400 "$code"
  code=$(curlx -I -H 'x-amz-server-side-encryption: AES256')
  want_eq "HEAD status" 400 "$code"
  end
else
  skip X12 "x-amz-server-side-encryption on GET/HEAD" "curl with --aws-sigv4 (curl >= 7.75) is needed"
fi

begin A15 "seed examples SSE-S3: put-object --server-side-encryption AES256, get-object without options"
run aws s3api put-object \
  --bucket "$B" \
  --key your-object-a15 \
  --body "$MAGIC" \
  --server-side-encryption AES256
want_ok
want_js ServerSideEncryption AES256
want_eq ETag "$MAGIC_MD5" "$(etag)"
rm -f a15.out
run aws s3api get-object \
  --bucket "$B" \
  --key your-object-a15 \
  a15.out
want_ok
want_same_file "$MAGIC" a15.out
want_js ServerSideEncryption AES256
end

begin A12 "aws s3 rm of the SSE-S3 object"
run aws s3 rm "s3://$B/your-object"
want_ok
want_out_has "delete: s3://$B/your-object"
end

# ---- bucket default encryption (A10, A11, A13, X10, X11) ------------------
AES_DEFAULT='{"ServerSideEncryptionConfiguration": {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": false}]}}'
check_unconfigured() { # the answers of a bucket without a configuration, per mode (D5)
  run aws s3api get-bucket-encryption --bucket "$B"
  if [[ $MODE == aws2023 ]]; then
    want_ok
    want_eq "configuration" "$(canon <<<"$AES_DEFAULT")" "$(canon <"$T/out")"
  else
    want_err GetBucketEncryption ServerSideEncryptionConfigurationNotFoundError "The server side encryption configuration was not found"
  fi
}

begin A11a "get-bucket-encryption on a bucket never configured ($MODE mode)"
check_unconfigured
end

begin A10a "put-object without encryption before any configuration ($MODE mode)"
run aws s3api put-object --bucket "$B" --key plain-before --body "$F"
want_ok
want_eq ETag "$F_MD5" "$(etag)"
if [[ $MODE == aws2023 ]]; then want_js ServerSideEncryption AES256; else want_js_absent ServerSideEncryption; fi
end

begin A10 "put-bucket-encryption with the seed's AES256 JSON: exit 0, no output; new plain put-object is SSE-S3"
run aws s3api put-bucket-encryption --bucket "$B" --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}' ${ENDPOINT:+--endpoint-url "$ENDPOINT"}
want_ok
[[ ! -s $T/out ]] || problem "stdout: expected nothing, got $(head -c 200 "$T/out")"
run aws s3api put-object --bucket "$B" --key plain-after --body "$F"
want_ok
want_js ServerSideEncryption AES256
want_eq ETag "$F_MD5" "$(etag)"
run aws s3api head-object --bucket "$B" --key plain-before
want_ok
if [[ $MODE != aws2023 ]]; then want_js_absent ServerSideEncryption; fi
end

begin A11 "get-bucket-encryption shows the AES256 rule with BucketKeyEnabled false"
run aws s3api get-bucket-encryption --bucket "$B" ${ENDPOINT:+--endpoint-url "$ENDPOINT"}
want_ok
want_eq "configuration" "$(canon <<<"$AES_DEFAULT")" "$(canon <"$T/out")"
end

begin A13 "seed CSE example: openssl enc, aws s3 cp; stored bytes get the bucket default; decrypts back"
# shellcheck disable=SC2086
(
  # Generating a client-side encryption key
  client_key=$(openssl rand -base64 32)
  # Encryption of a file before sending
  openssl enc -aes-256-cbc -salt -in "$F" -out "$T/encrypted-file" -pass pass:$client_key || exit 9
  # Sending encrypted file to S3 bucket
  aws s3 cp "$T/encrypted-file" "s3://$B/your-encrypted-object" || exit $?
  aws s3 cp "s3://$B/your-encrypted-object" "$T/encrypted-back" >/dev/null || exit $?
  openssl enc -d -aes-256-cbc -in "$T/encrypted-back" -out "$T/decrypted-file" -pass pass:$client_key || exit 9
) >"$T/out" 2>"$T/err"
RC=$?
want_ok
want_out_has "upload: "
want_same_file "$F" "$T/decrypted-file"
run aws s3api head-object --bucket "$B" --key your-encrypted-object
want_ok
want_js ServerSideEncryption AES256
want_eq ETag "$(md5hex "$T/encrypted-file")" "$(etag)"
end

begin X11 "put-bucket-encryption AES256 with KMSMasterKeyID: InvalidArgument"
run aws s3api put-bucket-encryption --bucket "$B" --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256","KMSMasterKeyID":"x"}}]}'
want_err PutBucketEncryption InvalidArgument "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
end

begin X10 "delete-bucket-encryption twice: exit 0 both times; then unconfigured again ($MODE mode)"
run aws s3api delete-bucket-encryption --bucket "$B"
want_ok
run aws s3api delete-bucket-encryption --bucket "$B"
want_ok
check_unconfigured
end

# ---- summary ---------------------------------------------------------------
echo "# $PASSED ok, $FAILED failed, $SKIPPED skipped"
[[ $FAILED == 0 ]]
