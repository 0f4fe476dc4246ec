"""boto3 smoke test against an S3 endpoint given by the environment.

Reads AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION and AWS_CA_BUNDLE (as written by `s3kms dev` to
dev.env) and SMOKE_BUCKET. Creates the bucket, puts, gets, lists and
deletes objects, verifying every answer; exits non-zero on the first
difference. Run by internal/clientsmoke (go test).
"""

import hashlib
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def main():
    bucket = os.environ["SMOKE_BUCKET"]
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )

    s3.create_bucket(Bucket=bucket)
    s3.head_bucket(Bucket=bucket)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check(bucket in names, "list_buckets lacks %s: %r" % (bucket, names))

    objects = {
        "hello.txt": b"hello, s3kms\n",
        "empty": b"",
        "dir/a.bin": os.urandom(100 * 1024),
        "dir/b.bin": os.urandom(3 * 1024 * 1024 + 17),
        "dir/sub/c.txt": "unicode \u00e9\u00e8 \u2603\n".encode(),
        "other/d.txt": b"d\n",
    }
    for key, body in objects.items():
        r = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-smoke",
                          Metadata={"origin": "boto3"})
        check(r["ETag"].strip('"') == hashlib.md5(body).hexdigest(),
              "put %s: ETag %s is not the MD5" % (key, r["ETag"]))

    for key, body in objects.items():
        r = s3.get_object(Bucket=bucket, Key=key)
        got = r["Body"].read()
        check(got == body, "get %s: %d bytes differ from the %d written" % (key, len(got), len(body)))
        check(r["ContentLength"] == len(body), "get %s: ContentLength %d" % (key, r["ContentLength"]))
        check(r["ContentType"] == "application/x-smoke", "get %s: ContentType %s" % (key, r["ContentType"]))
        check(r["Metadata"].get("origin") == "boto3", "get %s: Metadata %r" % (key, r["Metadata"]))
        h = s3.head_object(Bucket=bucket, Key=key)
        check(h["ContentLength"] == len(body), "head %s: ContentLength %d" % (key, h["ContentLength"]))

    big = objects["dir/b.bin"]
    r = s3.get_object(Bucket=bucket, Key="dir/b.bin", Range="bytes=1000-1999")
    check(r["Body"].read() == big[1000:2000], "ranged get differs")
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 206, "ranged get status")

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    check(keys == sorted(objects), "list v2: %r" % keys)
    r = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    check([o["Key"] for o in r["Contents"]] == ["dir/a.bin", "dir/b.bin"], "list v2 dir/: %r" % r.get("Contents"))
    check([p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"], "list v2 prefixes: %r" % r.get("CommonPrefixes"))
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    check([p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/", "other/"], "list v2 root: %r" % r.get("CommonPrefixes"))

    # Paginated listing, two keys a page, v2 and v1.
    for op in ("list_objects_v2", "list_objects"):
        pages = s3.get_paginator(op).paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
        seen = [o["Key"] for page in pages for o in page.get("Contents", [])]
        check(seen == sorted(objects), "%s paginated: %r" % (op, seen))

    try:
        s3.get_object(Bucket=bucket, Key="missing")
        fail("get of a missing key succeeded")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "NoSuchKey", "missing key: %r" % e.response["Error"])

    for key in objects:
        s3.delete_object(Bucket=bucket, Key=key)
    check(s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "bucket not empty after deletes")
    s3.delete_bucket(Bucket=bucket)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check(bucket not in names, "bucket still listed after delete")
    print("boto3 %s smoke: ok" % boto3.__version__)


if __name__ == "__main__":
    main()
