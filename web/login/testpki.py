"""A test qualified trust service provider: a CA, people's certificates and key files, and its CRL.

For the demo (``dsom security init`` makes the demo users) and the tests. Real certificates come
from a real provider (docs/cabinets.md); these only imitate their subject fields: the person's
tax number as ``serialNumber=TINUA-<10 digits>``, the organisation's EDRPOU code as
``organizationIdentifier=NTRUA-<8 digits>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key(kind: KeyType = "ec") -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)


@dataclass
class Provider:
    """A CA that issues people's certificates and signs its CRL."""

    name: str
    key: PrivateKey
    cert: x509.Certificate

    @classmethod
    def create(
        cls, name: str = "dsom test QTSP", *, days: int = 3650, now: datetime | None = None
    ) -> Provider:
        now = now or datetime.now(UTC)
        key = new_key("ec")
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "UA"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(key, hashes.SHA256())
        )
        return cls(name, key, cert)

    def issue(
        self,
        common_name: str,
        tax_number: str,
        edrpou: str | None = None,
        *,
        key: PrivateKey | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> tuple[x509.Certificate, PrivateKey]:
        """A person's signing certificate (and its new key unless ``key`` is given)."""
        now = datetime.now(UTC)
        key = key or new_key("ec")
        attrs = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "UA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINUA-{tax_number}"),
        ]
        if edrpou is not None:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRUA-{edrpou}"))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert, key

    def crl(
        self, revoked: list[x509.Certificate] | None = None, *, hours: int = 24
    ) -> x509.CertificateRevocationList:
        now = datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(hours=hours))
        )
        for cert in revoked or []:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(now)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())


def write_pem(path: Path, data: bytes, private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600 if private else 0o644)
    tmp.replace(path)
    return path


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: what WebCrypto's ``importKey("pkcs8", ...)`` takes after base64."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)
