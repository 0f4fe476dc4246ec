#!/usr/bin/env python3
"""Writes openssl_kwp.json: RFC 5649 (AES key wrap with padding) vectors
produced by the OpenSSL command line (`openssl enc -id-aesNNN-wrap-pad
-iv A65959A6`, the IV being RFC 5649's constant; OpenSSL 3.0 refuses to
run without it), an implementation independent of keywrap.go. Keys of every length from 1
to 64 bytes under an AES-256 KEK, and a few under AES-128 and AES-192.

    python3 hsm/internal/keywrap/testdata/gen_openssl_vectors.py
"""
import hashlib
import json
import os
import subprocess


def det(label, n):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"s3kms keywrap vector {label} {i}".encode()).digest()
        i += 1
    return out[:n]


def wrap(kek, key):
    bits = len(kek) * 8
    return subprocess.run(
        ["openssl", "enc", f"-id-aes{bits}-wrap-pad", "-K", kek.hex(), "-iv", "A65959A6"],
        input=key, capture_output=True, check=True).stdout


def main():
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True).stdout.strip()
    vectors = []
    kek256 = det("kek 256", 32)
    for n in range(1, 65):
        key = det(f"key {n}", n)
        vectors.append({"kek": kek256.hex(), "key": key.hex(), "wrapped": wrap(kek256, key).hex()})
    for size in (16, 24):
        kek = det(f"kek {size * 8}", size)
        for n in (1, 8, 9, 32, 33):
            key = det(f"key {size} {n}", n)
            vectors.append({"kek": kek.hex(), "key": key.hex(), "wrapped": wrap(kek, key).hex()})
    out = {"comment": f"RFC 5649 vectors from `openssl enc -id-aesNNN-wrap-pad` ({version})", "vectors": vectors}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openssl_kwp.json")
    with open(path, "w") as f:
        json.dump(out, f, indent="\t")
        f.write("\n")


if __name__ == "__main__":
    main()
