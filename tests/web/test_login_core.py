"""The login's pure decisions, with certificates made here: every refusal, and the accepted case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from web.login.core import (
    ChallengeBook,
    LoginRefused,
    Refusal,
    Trust,
    WebCryptoVerifier,
    challenge_message,
    check_login,
    fingerprint,
)
from web.login.testpki import PrivateKey, Provider, cert_pem, new_key


def webcrypto_sign(key: PrivateKey, message: bytes) -> bytes:
    """What the browser's crypto.subtle.sign gives: raw r||s for ECDSA, PKCS#1 v1.5 for RSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32) + s.to_bytes(32)
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


@pytest.fixture(scope="module")
def qtsp() -> Provider:
    return Provider.create("Test QTSP")


def attempt(
    book: ChallengeBook,
    trust: Trust,
    cert_bytes: bytes,
    key: PrivateKey,
    challenge: str | None = None,
    tamper: bool = False,
    at: datetime | None = None,
) -> str:
    challenge = challenge or book.issue(0.0)
    sig = bytearray(webcrypto_sign(key, challenge_message(challenge)))
    if tamper:
        sig[10] ^= 1
    return check_login(
        book, challenge, cert_bytes, bytes(sig), trust, WebCryptoVerifier(), at or datetime.now(UTC), 1.0
    ).tax_number


def refused(code: Refusal, *args: object, **kwargs: object) -> None:
    with pytest.raises(LoginRefused) as info:
        attempt(*args, **kwargs)  # type: ignore[arg-type]
    assert info.value.code is code, info.value
    assert info.value.message  # every refusal has words for the person


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_a_good_signature_logs_in_with_ecdsa_and_rsa(qtsp: Provider, kind: str) -> None:
    cert, key = qtsp.issue("Olena Petrenko", "1234567890", "14360570", key=new_key(kind))  # type: ignore[arg-type]
    trust = Trust((qtsp.cert,), crls=(qtsp.crl(),))
    book = ChallengeBook()
    challenge = book.issue(0.0)
    sig = webcrypto_sign(key, challenge_message(challenge))
    now = datetime.now(UTC)
    subject = check_login(book, challenge, cert_pem(cert), sig, trust, WebCryptoVerifier(), now, 1.0)
    assert (subject.tax_number, subject.edrpou, subject.common_name) == (
        "1234567890",
        "14360570",
        "Olena Petrenko",
    )
    assert subject.fingerprint == fingerprint(cert) and len(subject.fingerprint) == 64


def test_der_certificates_are_read_too(qtsp: Provider) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    cert, key = qtsp.issue("P", "1234567890")
    assert (
        attempt(
            ChallengeBook(), Trust((qtsp.cert,), crls=(qtsp.crl(),)), cert.public_bytes(Encoding.DER), key
        )
        == "1234567890"
    )


def test_refusals(qtsp: Provider) -> None:
    NOW = datetime.now(UTC)  # noqa: N806 (the CRLs below are made now too)
    cert, key = qtsp.issue("P", "1234567890")
    good = Trust((qtsp.cert,), crls=(qtsp.crl(),))
    book = ChallengeBook()
    # another provider's CA
    other = Provider.create("Other QTSP")
    ocert, okey = other.issue("P", "1234567890")
    refused(
        Refusal.UNTRUSTED, book, Trust((qtsp.cert,), crls=(qtsp.crl(), other.crl())), cert_pem(ocert), okey
    )
    # a certificate whose issuer name matches but whose signature is not the CA's
    impostor = Provider(qtsp.name, new_key("ec"), qtsp.cert)
    icert, ikey = impostor.issue("P", "1234567890")
    refused(Refusal.UNTRUSTED, book, good, cert_pem(icert), ikey)
    # expired and not yet valid
    ecert, ekey = qtsp.issue(
        "P", "1234567890", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1)
    )
    refused(Refusal.EXPIRED, book, good, cert_pem(ecert), ekey)
    fcert, fkey = qtsp.issue("P", "1234567890", not_before=NOW + timedelta(days=1))
    refused(Refusal.NOT_YET_VALID, book, good, cert_pem(fcert), fkey)
    # revoked, on a CRL made now
    refused(Refusal.REVOKED, book, Trust((qtsp.cert,), crls=(qtsp.crl([cert]),)), cert_pem(cert), key)
    # no current CRL: refused (fail closed), unless configured otherwise
    refused(Refusal.NO_CRL, book, Trust((qtsp.cert,)), cert_pem(cert), key)
    refused(Refusal.NO_CRL, book, good, cert_pem(cert), key, at=NOW + timedelta(days=2))  # CRL out of date
    assert attempt(book, Trust((qtsp.cert,), require_crl=False), cert_pem(cert), key) == "1234567890"
    # a CRL signed by someone else does not count
    forged = Provider(qtsp.name, new_key("ec"), qtsp.cert).crl()
    refused(Refusal.NO_CRL, book, Trust((qtsp.cert,), crls=(forged,)), cert_pem(cert), key)
    # a tampered signature, a key that is not the certificate's
    refused(Refusal.BAD_SIGNATURE, book, good, cert_pem(cert), key, tamper=True)
    refused(Refusal.BAD_SIGNATURE, book, good, cert_pem(cert), new_key("ec"))
    # not a certificate; no tax number
    refused(Refusal.BAD_CERTIFICATE, book, good, b"hello", key)
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    ncert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "N")]))
        .issuer_name(qtsp.cert.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(qtsp.key, hashes.SHA256())
    )
    refused(Refusal.NO_TAX_NUMBER, book, good, cert_pem(ncert), key)


def test_a_challenge_is_used_once_and_expires(qtsp: Provider) -> None:
    cert, key = qtsp.issue("P", "1234567890")
    trust = Trust((qtsp.cert,), crls=(qtsp.crl(),))
    book = ChallengeBook(ttl_s=60)
    challenge = book.issue(0.0)
    assert attempt(book, trust, cert_pem(cert), key, challenge=challenge) == "1234567890"
    refused(Refusal.BAD_CHALLENGE, book, trust, cert_pem(cert), key, challenge=challenge)  # replayed
    refused(Refusal.BAD_CHALLENGE, book, trust, cert_pem(cert), key, challenge="made-up")
    late = book.issue(0.0)
    with pytest.raises(LoginRefused) as info:
        book.take(late, 61.0)
    assert info.value.code is Refusal.BAD_CHALLENGE
    # a failed attempt uses the challenge up too
    failed = book.issue(0.0)
    refused(Refusal.BAD_SIGNATURE, book, trust, cert_pem(cert), key, challenge=failed, tamper=True)
    refused(Refusal.BAD_CHALLENGE, book, trust, cert_pem(cert), key, challenge=failed)


def test_the_book_of_challenges_is_bounded() -> None:
    book = ChallengeBook(max_pending=3)
    first = book.issue(0.0)
    for _ in range(3):
        book.issue(0.0)
    with pytest.raises(LoginRefused):
        book.take(first, 0.0)
