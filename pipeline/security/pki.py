"""The deployment's certificate authority and the certificates it issues (``cryptography``).

Private keys are written with owner-only permissions and never printed or logged. Every
certificate's subject is ``CN=<principal>``; the broker maps it to ``User:<principal>``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 397
# Operators' keys are signed by an intermediate CA that may sign nothing but subjects under this
# OU (an X.509 name constraint, which the broker's TLS checks): the key issuer holds that CA, not
# the root, so it cannot make a certificate for the pipeline, the admin or the broker. The broker
# maps ``CN=op.<operator>.<key>,OU=<this>`` to the principal ``op.<operator>.<key>``.
OPERATOR_KEYS_OU = "dsom-operator-keys"
OPERATOR_CA_DIR = "operator-ca"
OPERATOR_KEY_CN = r"op[.][A-Za-z0-9_-]+[.]k[0-9a-f]+"  # op.<operator>.<key>, as AccessKeys names them


def principal_mapping_rules(principal_format: str = "{name}") -> str:
    """The broker's ``ssl.principal.mapping.rules``: a certificate's subject to the name ACLs use.

    An operator's key (``CN=op.<operator>.<key>,OU=dsom-operator-keys``) and a service's
    certificate (``CN=<name>``) both become ``principal_format`` of the CN (``KafkaSettings.
    principal_format``: ``{name}`` on dsom's own brokers, ``CN={name}`` under Strimzi, whose
    KafkaUsers' ACLs name the subject); anything else keeps its whole subject (``DEFAULT``).
    ``infra/kafka_local.py``, ``infra/docker-compose.yml`` and the Kubernetes manifests carry
    these rules (tests compare them).
    """
    to = principal_format.format(name="$1")
    return f"RULE:^CN=({OPERATOR_KEY_CN}),OU={OPERATOR_KEYS_OU}$/{to}/,RULE:^CN=([^,]+)$/{to}/,DEFAULT"


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path

    @property
    def pem_bundle(self) -> Path:
        """Key + certificate in one PEM file (the broker's PEM keystore wants that)."""
        return self.cert.with_suffix(".pem")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (0600), whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class CertificateAuthority:
    """A CA kept in a folder: ``ca.key`` (owner-only) and ``ca.crt``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cert_path = folder / "ca.crt"
        self.key_path = folder / "ca.key"

    def ensure_operator_ca(self) -> CertificateAuthority:
        """The intermediate CA for operators' keys (``<folder>/operator-ca``), made once under this root.

        Its name constraint permits only subjects under ``OU=dsom-operator-keys``; it may not sign
        further CAs (path length 0).
        """
        sub = CertificateAuthority(self.folder / OPERATOR_CA_DIR)
        if sub.cert_path.exists() and sub.key_path.exists():
            return sub
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        ou = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, OPERATOR_KEYS_OU)])
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dsom operator keys CA")]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(min(now + dt.timedelta(days=CA_DAYS), ca_cert.not_valid_after_utc))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.NameConstraints(permitted_subtrees=[x509.DirectoryName(ou)],
                                                    excluded_subtrees=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(ca_key, hashes.SHA256()))
        write_private(sub.key_path, _key_pem(key))
        sub.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return sub

    def ensure(self, name: str = "dsom deployment CA") -> None:
        """Create the CA once; later calls keep the existing one."""
        if self.cert_path.exists() and self.key_path.exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=CA_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        write_private(self.key_path, _key_pem(key))
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, principal: str, out: Path, *, server: bool = False, days: int = CERT_DAYS,
              hosts: Sequence[str] = (), ou: str | None = None) -> CertPaths:
        """Issue ``CN=<principal>`` into ``<out>.crt`` / ``<out>.key`` (and ``<out>.pem``).

        A server certificate names localhost, 127.0.0.1 and ``hosts`` (host names or IP
        addresses): clients that verify host names (Java's do by default) need the one they dial.
        """
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usage = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name(
                       ([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou)] if ou else [])
                       + [x509.NameAttribute(NameOID.COMMON_NAME, principal)]))
                   .issuer_name(ca_cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usage), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [_san(h) for h in dict.fromkeys(["localhost", "127.0.0.1", *hosts])]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        paths = CertPaths(out.with_suffix(".crt"), out.with_suffix(".key"))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        if ca_cert.issuer != ca_cert.subject:  # an intermediate: the chain up to the root
            cert_pem += ca_cert.public_bytes(serialization.Encoding.PEM)
        key_pem = _key_pem(key)
        write_private(paths.key, key_pem)
        paths.cert.write_bytes(cert_pem)
        write_private(paths.pem_bundle, key_pem + cert_pem)
        return paths


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def server_names(path: Path) -> list[str]:
    """The host names and addresses a server certificate is valid for."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n) for n in san.get_values_for_type(x509.DNSName)] + [
        str(a) for a in san.get_values_for_type(x509.IPAddress)]


def certificate_info(path: Path) -> tuple[str, dt.datetime, str]:
    """(common name, not valid after, serial as hex) of a certificate file."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return str(cn), cert.not_valid_after_utc, format(cert.serial_number, "x")
