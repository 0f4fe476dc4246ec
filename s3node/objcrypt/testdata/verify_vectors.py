#!/usr/bin/env python3
"""Re-checks vectors.json with Python's `cryptography` package, an
implementation independent of Go and of minio/sio: part keys, ETags, the
inline DARE 2.0 streams (decrypted from the package doc alone) and the
SSE-C sealed keys (kms/sealed/SPEC.md). Run: python3 verify_vectors.py"""
import hashlib, hmac, json, os, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

v = json.load(open(os.path.join(os.path.dirname(__file__), "vectors.json")))
oek = bytes.fromhex(v["object_key"])
be32 = lambda n: struct.pack(">I", n)
mac = lambda k, m: hmac.new(k, m, hashlib.sha256).digest()
part_key = lambda n: mac(oek, b"s3kms/v1/part-key" + be32(n))

for p in v["part_keys"]:
    assert part_key(p["part"]).hex() == p["part_key"], p
for e in v["etags"]:
    md5 = hashlib.md5(e["plaintext"].encode()).digest()
    assert md5.hex() == e["md5"], e
    assert mac(oek, b"s3kms/v1/etag" + be32(e["part"]) + md5)[:16].hex() == e["etag"], e

def dare_decrypt(key, data):
    out, seq, gcm = b"", 0, AESGCM(key)
    while data:
        h = data[:16]
        n = struct.unpack("<H", h[2:4])[0] + 1
        assert h[0] == 0x20 and h[1] == 0x00
        final = h[4] & 0x80 != 0
        assert final == (len(data) == 32 + n) and (final or n == 65536)
        nonce = bytearray(h[4:16])
        nonce[8:12] = struct.pack("<I", struct.unpack("<I", nonce[8:12])[0] ^ seq)
        out += gcm.decrypt(bytes(nonce), data[16:32 + n], h[:4])
        data, seq = data[32 + n:], seq + 1
    return out

for s in v["streams"]:
    if "stored" not in s:
        continue
    stored = bytes.fromhex(s["stored"])
    assert len(stored) == s["stored_size"] and hashlib.sha256(stored).hexdigest() == s["stored_sha256"]
    plain = bytes(i % 251 for i in range(s["plaintext_size"]))
    assert dare_decrypt(part_key(s["part"]), stored) == plain, s["name"]

def encode_context(ctx):
    b = be32(len(ctx))
    for k in sorted(ctx or {}, key=lambda k: k.encode()):
        b += be32(len(k.encode())) + k.encode() + be32(len(ctx[k].encode())) + ctx[k].encode()
    return b

for c in v["customer"]:
    blob, ck, rnd = (bytes.fromhex(c[f]) for f in ("sealed", "customer_key", "rand"))
    ctx = encode_context(c["context"] or {})
    header = bytes([1, 3, 5]) + b"sse-c" + be32(0) + rnd
    assert blob.startswith(header), c["name"]
    kek = mac(ck, be32(1) + b"s3kms/v1/sse-c" + b"\x00" + rnd[:32] + ctx + be32(256))
    assert AESGCM(kek).decrypt(rnd[32:], blob[len(header):], header + ctx) == oek, c["name"]

print("ok")
