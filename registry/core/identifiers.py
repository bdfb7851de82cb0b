"""Checks of the identifiers a regulator keeps: EDRPOU codes, domain names, app package IDs, fingerprints."""

from __future__ import annotations

import hashlib
import hmac
import re

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TLD = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")
_PACKAGE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def edrpou_checksum(first7: str) -> int:
    """The check digit of an EDRPOU code from its first seven digits (the State Statistics method).

    Codes between 30,000,000 and 60,000,000 weigh the digits 7,1,2,...,6, others 1,...,7; a
    remainder of 10 is recomputed with every weight plus 2, and a second 10 counts as 0.
    """
    digits = [int(c) for c in first7]
    base = (7, 1, 2, 3, 4, 5, 6) if 30_000_000 < int(first7 + "0") < 60_000_000 else (1, 2, 3, 4, 5, 6, 7)
    total = sum(d * w for d, w in zip(digits, base, strict=True)) % 11
    if total == 10:
        total = sum(d * (w + 2) for d, w in zip(digits, base, strict=True)) % 11
        if total == 10:
            total = 0
    return total


def check_edrpou(code: str) -> str:
    if len(code) != 8 or not code.isascii() or not code.isdigit():
        raise ValueError(f"expected 8 digits, got {code[:20]!r}")
    expected = edrpou_checksum(code[:7])
    if int(code[7]) != expected:
        raise ValueError(f"checksum digit of {code} should be {expected}, not {code[7]}")
    return code


def check_domain(name: str) -> str:
    """A lower-cased host name: LDH labels of 1-63 characters, at least two, a real TLD, 253 at most.

    Internationalised names are accepted in their ASCII (punycode, ``xn--``) form.
    """
    d = name.strip().lower().rstrip(".")
    labels = d.split(".")
    if (len(d) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels)
            or not _TLD.fullmatch(labels[-1])):
        raise ValueError(f"expected a domain name such as casino.example.ua, got {name[:64]!r}")
    return d


def check_package(package_id: str) -> str:
    if len(package_id) > 255 or not _PACKAGE.fullmatch(package_id):
        raise ValueError("expected a reverse-domain package ID such as ua.example.app, "
                         f"got {package_id[:64]!r}")
    return package_id


def check_fingerprint(fp: str) -> str:
    """A certificate's SHA-256 fingerprint as 64 lower-case hex digits (colons and case ignored)."""
    f = fp.replace(":", "").strip().lower()
    if not _FINGERPRINT.fullmatch(f):
        raise ValueError("expected the certificate's SHA-256 fingerprint: 64 hex digits, colons allowed")
    return f


def check_tax_number(number: str) -> str:
    if len(number) != 10 or not number.isascii() or not number.isdigit():
        raise ValueError("expected the person's tax number: 10 digits")
    return number


def tax_number_hash(key: bytes, number: str) -> str:
    """The keyed hash a representative's tax number is kept as (HMAC-SHA256, hex).

    Keyed, not plain: ten digits are few enough that an unkeyed hash is reversed by trying them all.
    """
    return hmac.new(key, check_tax_number(number).encode(), hashlib.sha256).hexdigest()
