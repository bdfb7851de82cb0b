"""Pure login decisions: the one-time challenge, the signature, the chain, revocation, the subject.

Nothing here does I/O: the trust material (CA certificates, CRLs) is loaded by ``web.login.trust``
and the clock is an argument, so every refusal is unit-tested with certificates made in the test.
Each refusal carries a code (for the audit log) and a plain message (for the login page); the
messages are all in :data:`MESSAGES`, in one place, for translation.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from web.i18n import N_, gettext

CHALLENGE_TTL_S = 120.0
MAX_PENDING = 10_000  # challenges held at once; the oldest go first (a flood cannot grow memory)
MAX_CHAIN = 5
_DER = Encoding.DER


class Refusal(StrEnum):
    BAD_CHALLENGE = "bad_challenge"
    BAD_CERTIFICATE = "bad_certificate"
    UNSUPPORTED_KEY = "unsupported_key"
    BAD_SIGNATURE = "bad_signature"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    UNTRUSTED = "untrusted"
    NO_CRL = "no_crl"
    REVOKED = "revoked"
    NO_TAX_NUMBER = "no_tax_number"
    UNKNOWN_PERSON = "unknown_person"
    TOO_MANY = "too_many"


MESSAGES: dict[Refusal, str] = {  # English source strings, translated when shown (web/locale)
    Refusal.BAD_CHALLENGE: N_(
        "This login page has expired or was already used. Reload the page and sign again."
    ),
    Refusal.BAD_CERTIFICATE: N_(
        "The certificate file could not be read. Choose your certificate "
        "(.pem, .crt or .cer) issued by a qualified trust service provider."
    ),
    Refusal.UNSUPPORTED_KEY: N_(
        "This kind of key is not supported yet (ECDSA P-256 and RSA are)."
    ),
    Refusal.BAD_SIGNATURE: N_(
        "The signature does not match the certificate. Check that the key file "
        "belongs to this certificate."
    ),
    Refusal.NOT_YET_VALID: N_(
        "Your certificate is not valid yet."
    ),
    Refusal.EXPIRED: N_(
        "Your certificate has expired. Ask your trust service provider for a new one."
    ),
    Refusal.UNTRUSTED: N_(
        "Your certificate was not issued by a trusted qualified trust service provider."
    ),
    Refusal.NO_CRL: N_(
        "The revocation list of your trust service provider is not available now; "
        "login is refused until it is. Try again later."
    ),
    Refusal.REVOKED: N_(
        "Your certificate has been revoked. Ask your trust service provider for a new one."
    ),
    Refusal.NO_TAX_NUMBER: N_(
        "Your certificate does not name a person's tax number."
    ),
    Refusal.UNKNOWN_PERSON: N_(
        "No cabinet is registered for this certificate. An operator's representative "
        "must be entered in the registry with this certificate; the regulator's "
        "staff ask their administrator."
    ),
    Refusal.TOO_MANY: N_(
        "Too many login attempts. Wait a minute and try again."
    ),
}


class LoginRefused(Exception):
    """A refused login: ``code`` goes to the audit log, ``message`` to the person."""

    def __init__(self, code: Refusal, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail

    @property
    def message(self) -> str:
        """In the reader's language."""
        return gettext(MESSAGES[self.code])


# ---- the challenge --------------------------------------------------------------------------------


def challenge_message(challenge: str) -> bytes:
    """What the browser signs: a fixed context, so a login signature is never mistaken for another."""
    return b"dsom-cabinet-login\n" + challenge.encode()


class ChallengeBook:
    """One-time challenges held server-side: each expires after ``ttl_s`` and can be taken once.

    Thread-safe. The clock is the caller's (seconds, monotonic), so the rules are testable.
    """

    def __init__(self, ttl_s: float = CHALLENGE_TTL_S, max_pending: int = MAX_PENDING) -> None:
        self._ttl = ttl_s
        self._max = max_pending
        self._pending: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, now: float) -> str:
        challenge = secrets.token_urlsafe(32)
        with self._lock:
            while self._pending and (
                len(self._pending) >= self._max or next(iter(self._pending.values())) < now
            ):
                self._pending.popitem(last=False)
            self._pending[challenge] = now + self._ttl
        return challenge

    def take(self, challenge: str, now: float) -> None:
        """Use up ``challenge``; refuse one never issued, already taken or expired."""
        with self._lock:
            expires = self._pending.pop(challenge, None)
        if expires is None or expires < now:
            raise LoginRefused(Refusal.BAD_CHALLENGE, "unknown, used or expired challenge")


# ---- the signature ---------------------------------------------------------------------------------


class SignatureVerifier(Protocol):
    """Checks that ``signature`` over ``message`` was made with the key of ``cert``.

    One class per signature family: :class:`WebCryptoVerifier` for what browsers sign with
    (ECDSA P-256, RSA); a vendor library for DSTU 4145 would be another implementation.
    """

    def verify(self, cert: x509.Certificate, message: bytes, signature: bytes) -> None: ...


class WebCryptoVerifier:
    """ECDSA P-256 with SHA-256 (WebCrypto's raw r‖s, or DER) and RSASSA-PKCS1-v1_5 with SHA-256."""

    def verify(self, cert: x509.Certificate, message: bytes, signature: bytes) -> None:
        key = cert.public_key()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
                if len(signature) == 64:  # WebCrypto gives r and s as two 32-byte integers
                    signature = encode_dss_signature(
                        int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
                    )
                key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
                key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            else:
                raise LoginRefused(Refusal.UNSUPPORTED_KEY, type(key).__name__)
        except (InvalidSignature, ValueError) as exc:
            raise LoginRefused(Refusal.BAD_SIGNATURE, type(exc).__name__) from None


# ---- the certificate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trust:
    """The trusted providers' CA certificates, their intermediates, and their current CRLs."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    require_crl: bool = True  # no current CRL for an issuer: refuse (fail closed)


def parse_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes (what a provider hands out is either)."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise LoginRefused(Refusal.BAD_CERTIFICATE, "not a certificate") from None


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over the DER certificate, 64 lower-case hex digits (as the registry keeps it)."""
    return hashlib.sha256(cert.public_bytes(_DER)).hexdigest()


def _within(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(leaf: x509.Certificate, trust: Trust, now: datetime) -> list[x509.Certificate]:
    """The path from ``leaf`` to a trusted root, every link checked; refuses otherwise.

    Checks the dates of every certificate, that each issuer is a CA whose key signed the
    certificate below it, and that no certificate below the root is on its issuer's current CRL.
    """
    if now < leaf.not_valid_before_utc:
        raise LoginRefused(Refusal.NOT_YET_VALID, leaf.not_valid_before_utc.isoformat())
    if now > leaf.not_valid_after_utc:
        raise LoginRefused(Refusal.EXPIRED, leaf.not_valid_after_utc.isoformat())
    path = [leaf]
    roots = {r.public_bytes(_DER) for r in trust.roots}
    while path[-1].public_bytes(_DER) not in roots:
        if len(path) > MAX_CHAIN:
            raise LoginRefused(Refusal.UNTRUSTED, "chain too long")
        current = path[-1]
        issuer = next(
            (
                c
                for c in (*trust.intermediates, *trust.roots)
                if c.subject == current.issuer and _is_ca(c) and _within(c, now) and _issued_by(current, c)
            ),
            None,
        )
        if issuer is None:
            raise LoginRefused(Refusal.UNTRUSTED, f"no trusted issuer for {current.issuer.rfc4514_string()}")
        path.append(issuer)
    for cert, issuer in zip(path, path[1:], strict=False):
        _check_revocation(cert, issuer, trust, now)
    return path


def _check_revocation(cert: x509.Certificate, issuer: x509.Certificate, trust: Trust, now: datetime) -> None:
    crl = next(
        (
            c
            for c in trust.crls
            if c.issuer == issuer.subject
            and c.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
            and c.last_update_utc <= now
            and (c.next_update_utc is None or now <= c.next_update_utc)
        ),
        None,
    )
    if crl is None:
        if trust.require_crl:
            raise LoginRefused(Refusal.NO_CRL, f"no current CRL of {issuer.subject.rfc4514_string()}")
        return
    if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
        raise LoginRefused(Refusal.REVOKED, f"serial {cert.serial_number:x}")


# ---- who it is -------------------------------------------------------------------------------------

_TAX = re.compile(r"^(?:TINUA-)?(\d{10})$")  # ETSI EN 319 412-1 semantics: TINUA- + the tax number
_EDRPOU = re.compile(r"^(?:NTRUA-)?(\d{8})$")


@dataclass(frozen=True)
class Subject:
    """What a certificate says about its holder: the person's tax number, the organisation's EDRPOU."""

    common_name: str
    tax_number: str
    edrpou: str | None
    fingerprint: str


def _attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    return None if not values else str(values[0].value)


def subject_of(cert: x509.Certificate) -> Subject:
    """The holder's identifiers from ``serialNumber`` (TINUA-…) and ``organizationIdentifier`` (NTRUA-…)."""
    tax = _TAX.match(_attr(cert, NameOID.SERIAL_NUMBER) or "")
    if tax is None:
        raise LoginRefused(Refusal.NO_TAX_NUMBER, "serialNumber is not TINUA-<10 digits>")
    org = _EDRPOU.match(_attr(cert, NameOID.ORGANIZATION_IDENTIFIER) or "")
    return Subject(
        _attr(cert, NameOID.COMMON_NAME) or "",
        tax.group(1),
        None if org is None else org.group(1),
        fingerprint(cert),
    )


def decode_b64(text: str) -> bytes:
    """Base64 (standard or URL-safe, padding optional) as the page sends it; refuses anything else."""
    try:
        return base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except ValueError:
        raise LoginRefused(Refusal.BAD_SIGNATURE, "not base64") from None


def check_login(
    book: ChallengeBook,
    challenge: str,
    certificate: bytes,
    signature: bytes,
    trust: Trust,
    verifier: SignatureVerifier,
    now: datetime,
    monotonic: float,
) -> Subject:
    """Every login check, in order; returns who signed.

    The challenge (used up even when a later check fails), the certificate, the signature over
    the challenge, the chain and its revocation, the subject.
    """
    book.take(challenge, monotonic)
    cert = parse_certificate(certificate)
    verifier.verify(cert, challenge_message(challenge), signature)
    verify_chain(cert, trust, now)
    return subject_of(cert)
