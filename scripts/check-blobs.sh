#!/usr/bin/env bash
# check-blobs.sh DSN DATA_DIR
#
# After a restore (docs/operations.md, section 3.3): lists every
# object version, multipart segment and upload part of an S3 node's
# PostgreSQL metadata database whose blob is missing from the data
# directory, and exits 1 if there is any. Blobs without a row are not
# reported: the nodes' sweeper removes them after sweep_grace.
#
# DSN is a libpq connection string or URL of the S3 metadata database
# (psql must be installed: apt-get install postgresql-client); DATA_DIR is
# the node's data_dir. Nothing is changed.
set -euo pipefail

if [[ $# -ne 2 || $1 == -h || $1 == --help ]]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
dsn=$1 dir=$2
command -v psql >/dev/null || { echo "check-blobs: psql not found: apt-get install postgresql-client" >&2; exit 2; }
[[ -d $dir ]] || { echo "check-blobs: $dir is not a directory" >&2; exit 2; }

# Keys are JSON-quoted so that a key holding a newline stays on its line.
sql="
SELECT o.blob_id, 'object ' || b.name || ' ' || to_json(o.key)::text || ' version ' || o.version_id
  FROM s3_objects o JOIN s3_buckets b ON b.id = o.bucket_id WHERE o.blob_id IS NOT NULL
UNION ALL
SELECT s.blob_id, 'part ' || s.part_number || ' of object ' || b.name || ' ' || to_json(o.key)::text || ' version ' || o.version_id
  FROM s3_segments s JOIN s3_objects o ON o.id = s.object_id JOIN s3_buckets b ON b.id = o.bucket_id
UNION ALL
SELECT p.blob_id, 'part ' || p.part_number || ' of upload ' || p.upload_id || ' of ' || b.name || ' ' || to_json(u.key)::text
  FROM s3_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id JOIN s3_buckets b ON b.id = u.bucket_id"

rows=$(psql "$dsn" -X -q -v ON_ERROR_STOP=1 -At -F $'\t' -c "$sql")
total=0 missing=0
while IFS=$'\t' read -r id what; do
  [[ -n $id ]] || continue
  total=$((total + 1))
  if [[ ! -f "$dir/${id:0:2}/$id" ]]; then
    echo "missing blob $id: $what"
    missing=$((missing + 1))
  fi
done <<<"$rows"
echo "$total blobs referenced, $missing missing"
((missing == 0))
