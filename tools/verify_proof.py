#!/usr/bin/env python3
"""Verify a dsom archive proof with nothing but the log's public key: no access to dsom needed.

    python verify_proof.py --vkey signing.vkey proof.json

A proof (from ``dsom proof inclusion`` or ``dsom proof consistency``) carries the signed
checkpoint(s) it is made against. This file checks the checkpoint's Ed25519 signature (C2SP
signed note), then the RFC 9162 Merkle proof against the checkpoint's root. It depends only
on the ``cryptography`` package and Python's standard library, on purpose: an operator, an
auditor or a court can read it whole. It repeats dsom's verification code (pipeline/core/
merkle.py and checkpoint.py) instead of importing it; dsom's tests hold the two together.

Exit status: 0 verified, 1 does not verify, 2 unusable input.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DASH = "\u2014"


class Invalid(Exception):
    """The proof does not verify."""


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def parse_vkey(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """(name, key ID, key) of a note verifier key ``name+hexid+base64(0x01 || key)``."""
    name, hex_id, b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("not an Ed25519 verifier key")
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_id.hex() != hex_id:
        raise ValueError("the verifier key's ID does not match its key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_checkpoint(note: str, vkey: tuple[str, bytes, Ed25519PublicKey]) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint signed by ``vkey`` (C2SP signed-note, tlog-checkpoint)."""
    name, key_id, key = vkey
    cut = note.rfind("\n\n")
    if cut < 0:
        raise Invalid("the checkpoint is not a signed note")
    text, ok = note[:cut + 1], False
    for line in note[cut + 2:].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or parts[1] != name:
            continue
        sig = base64.b64decode(parts[2])
        if sig[:4] != key_id:
            continue
        try:
            key.verify(sig[4:], text.encode())
        except InvalidSignature as exc:
            raise Invalid("the checkpoint's signature does not verify: altered or forged") from exc
        ok = True
    if not ok:
        raise Invalid(f"the checkpoint is not signed by {name}")
    lines = text.split("\n")
    root = base64.b64decode(lines[2], validate=True)
    if len(lines) < 4 or not lines[1].isdigit() or len(root) != 32:
        raise Invalid("the checkpoint's body is malformed")
    return lines[0], int(lines[1]), root


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        raise Invalid("malformed inclusion proof")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Invalid("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise Invalid(f"leaf {index} is not in the signed tree of {size}")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> None:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < old <= new or any(len(p) != 32 for p in proof):
        raise Invalid("malformed consistency proof")
    if old == new:
        if proof or old_root != new_root:
            raise Invalid("two different trees of the same size")
        return
    path = ([old_root] if old & (old - 1) == 0 else []) + proof
    if not proof:
        raise Invalid("empty consistency proof")
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Invalid("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise Invalid(f"the tree of {new} does not extend the tree of {old}: the log was rewritten")


def verify(doc: dict[str, Any], vkey: tuple[str, bytes, Ed25519PublicKey]) -> str:
    """A line saying what was verified; :class:`Invalid` if anything does not."""
    proof = [base64.b64decode(h, validate=True) for h in doc["proof"]]
    if doc.get("kind") == "inclusion":
        origin, size, root = verify_checkpoint(doc["checkpoint"], vkey)
        if doc["tree_size"] != size:
            raise Invalid(f"the proof is for a tree of {doc['tree_size']}, the checkpoint signs {size}")
        leaf = base64.b64decode(doc["leaf"], validate=True)
        verify_inclusion(hashlib.sha256(b"\x00" + leaf).digest(), doc["leaf_index"], size, proof, root)
        receipt = doc.get("receipt_id", "")
        if receipt and receipt.encode() not in leaf:
            raise Invalid(f"the proven record does not hold receipt {receipt}")
        return (f"OK: receipt {receipt} is in record {doc['leaf_index']} of {origin}, whose signed tree "
                f"has {size} records")
    if doc.get("kind") == "consistency":
        o_origin, o_size, o_root = verify_checkpoint(doc["old"], vkey)
        n_origin, n_size, n_root = verify_checkpoint(doc["new"], vkey)
        if o_origin != n_origin:
            raise Invalid(f"the checkpoints are of two logs: {o_origin} and {n_origin}")
        verify_consistency(o_size, n_size, o_root, n_root, proof)
        return f"OK: {n_origin} at {n_size} records extends its signed tree of {o_size} unchanged"
    raise ValueError(f"unknown proof kind {doc.get('kind')!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vkey", required=True, help="file holding the log's verifier key (name+id+key)")
    p.add_argument("proof", help="proof file (JSON) from dsom proof")
    args = p.parse_args(argv)
    try:
        with open(args.vkey, encoding="utf-8") as f:
            vkey = parse_vkey(f.read())
        with open(args.proof, encoding="utf-8") as f:
            doc = json.load(f)
        print(verify(doc, vkey))
    except Invalid as exc:
        print(f"DOES NOT VERIFY: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        print(f"unusable input: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
