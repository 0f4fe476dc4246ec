#!/usr/bin/env python3
"""Independent check of vectors.json against SPEC.md, using Python's
standard library (hmac, hashlib) and the `cryptography` package (AES-GCM).

    python3 kms/sealed/testdata/verify_vectors.py

It re-implements the context encoding, the KDF input, the blob layout and
the parser from SPEC.md without looking at the Go code.
"""
import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.exceptions import InvalidTag

LABELS = {1: b"s3kms/v1/sse-s3", 2: b"s3kms/v1/sse-kms", 3: b"s3kms/v1/sse-c", 4: b"s3kms/v1/encrypt"}


def encode_context(ctx):
    pairs = sorted(((k.encode(), v.encode()) for k, v in (ctx or {}).items()))
    out = struct.pack(">I", len(pairs))
    for k, v in pairs:
        out += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    return out


def parse(b):
    """Returns (use, key_id, version, salt, nonce, header, ciphertext) or raises ValueError."""
    if len(b) < 3 or b[0] != 1 or b[1] not in LABELS:
        raise ValueError("bad version or use")
    k = b[2]
    if not 1 <= k <= 250 or len(b) < 3 + k + 4 + 32 + 12 + 16:
        raise ValueError("bad length")
    key_id = b[3:3 + k]
    if any(c < 0x21 or c > 0x7E for c in key_id):
        raise ValueError("bad key id")
    p = 3 + k
    version = struct.unpack(">I", b[p:p + 4])[0]
    salt, nonce = b[p + 4:p + 36], b[p + 36:p + 48]
    header, ct = b[:p + 48], b[p + 48:]
    if len(ct) > 4096 + 16:
        raise ValueError("ciphertext too long")
    return b[1], key_id.decode(), version, salt, nonce, header, ct


def open_blob(root, blob, enc):
    use, _, _, salt, nonce, header, ct = parse(blob)
    kdf_in = struct.pack(">I", 1) + LABELS[use] + b"\x00" + salt + enc + struct.pack(">I", 256)
    kek = hmac.new(root, kdf_in, hashlib.sha256).digest()
    return AESGCM(kek).decrypt(nonce, ct, header + enc)


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
    with open(path) as f:
        data = json.load(f)
    h = bytes.fromhex
    for v in data["vectors"]:
        root, rnd = h(v["root_key"]), h(v["rand"])
        enc = encode_context(v["context"])
        assert enc == h(v["encoded_context"]), v["name"]
        assert LABELS[v["use"]].decode() == v["label"], v["name"]
        salt, nonce = rnd[:32], rnd[32:]
        kdf_in = struct.pack(">I", 1) + LABELS[v["use"]] + b"\x00" + salt + enc + struct.pack(">I", 256)
        assert kdf_in == h(v["kdf_input"]), v["name"]
        kek = hmac.new(root, kdf_in, hashlib.sha256).digest()
        assert kek == h(v["kek"]), v["name"]
        kid = v["key_id"].encode()
        header = bytes([1, v["use"], len(kid)]) + kid + struct.pack(">I", v["key_version"]) + salt + nonce
        blob = header + AESGCM(kek).encrypt(nonce, h(v["plaintext"]), header + enc)
        assert blob == h(v["sealed"]), v["name"]
        assert open_blob(root, blob, enc) == h(v["plaintext"]), v["name"]
    for n in data["negative"]:
        blob, root, enc = h(n["sealed"]), h(n["root_key"]), encode_context(n["context"])
        try:
            parse(blob)
        except ValueError:
            assert n["error"] == "malformed", n["name"]
            continue
        assert n["error"] == "open", n["name"]
        try:
            open_blob(root, blob, enc)
        except InvalidTag:
            continue
        raise AssertionError("negative vector opened: " + n["name"])
    print(f"ok: {len(data['vectors'])} vectors, {len(data['negative'])} negative vectors")


if __name__ == "__main__":
    sys.exit(main())
