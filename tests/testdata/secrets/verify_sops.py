#!/usr/bin/env python3
"""Independent SOPS checker for tend's tests (PyYAML + pyca/cryptography, not tend's code).

usage: verify_sops.py FILE DATAKEY_FILE
Parses FILE (YAML or JSON) with PyYAML, decrypts every ENC[AES256_GCM,...] value with the raw
32-byte data key and its key path as AAD, recomputes the SHA-512 MAC the way sops does
(sops.go Tree.Decrypt + ToBytes) and compares it with the stored, encrypted MAC.
Prints "OK <number of values>" or exits 1 with the reason (never a value).
"""
import base64
import decimal
import hashlib
import re
import sys

import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")


def decrypt(key, value, aad):
    m = ENC.match(value)
    if not m:
        sys.exit("value is not ENC[...]")
    data, iv, tag = (base64.b64decode(x) for x in m.groups()[:3])
    aes = AESGCM(key)
    # AESGCM accepts the 32-byte IVs sops uses.
    pt = aes.decrypt(iv, data + tag, aad.encode()).decode()
    return pt, m.group(4)


def go_float(f):
    s = format(decimal.Decimal(repr(f)).normalize(), "f")
    return s


def to_bytes(v):
    if isinstance(v, bool):
        return b"True" if v else b"False"
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, float):
        return go_float(v).encode()
    return str(v).encode()


def should_encrypt(meta, path):
    enc = True
    us = meta.get("unencrypted_suffix", "_unencrypted" if not any(
        k in meta for k in ("encrypted_suffix", "encrypted_regex", "unencrypted_regex")) else None)
    if us and any(p.endswith(us) for p in path):
        enc = False
    if meta.get("encrypted_suffix"):
        enc = any(p.endswith(meta["encrypted_suffix"]) for p in path)
    if meta.get("unencrypted_regex") and any(re.search(meta["unencrypted_regex"], p) for p in path):
        enc = False
    if meta.get("encrypted_regex"):
        enc = any(re.search(meta["encrypted_regex"], p) for p in path)
    return enc


def main():
    doc = yaml.safe_load(open(sys.argv[1]).read())
    key = open(sys.argv[2], "rb").read()
    if len(key) != 32:
        sys.exit("data key is not 32 bytes")
    meta = doc.pop("sops")
    mac_only = bool(meta.get("mac_only_encrypted", False))
    h = hashlib.sha512()
    if mac_only:
        h.update(hashlib.sha256(b"sops").digest())
    count = 0

    def walk(v, path):
        nonlocal count
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, path + [str(k)])
            return
        if isinstance(v, list):
            for x in v:
                walk(x, path)
            return
        if v is None:
            return
        enc = should_encrypt(meta, path)
        if enc and v != "":
            pt, typ = decrypt(key, v, ":".join(path) + ":")
            count += 1
            if typ == "int":
                v = int(pt)
            elif typ == "float":
                v = float(pt)
            elif typ == "bool":
                v = pt in ("True", "true", "1", "t", "T", "TRUE")
            else:
                v = pt
        if not mac_only or enc:
            h.update(to_bytes(v))

    walk(doc, [])
    lm = meta["lastmodified"]
    if not isinstance(lm, str):
        lm = lm.strftime("%Y-%m-%dT%H:%M:%SZ")
    stored, _ = decrypt(key, meta["mac"], lm)
    if stored != h.hexdigest().upper():
        sys.exit("MAC mismatch")
    print("OK", count)


main()
