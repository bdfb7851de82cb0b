"""Access keys: an operator's client certificate plus the ACLs that go with it.

Several keys per operator may be active at once (rotation without downtime). Revoking a key
removes its ACLs at once: the broker checks ACLs on every request, so the key stops working
for new connections and for produce requests on connections already open.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from pipeline.kafka.acl_admin import grant, revoke_all
from pipeline.security.acls import Grant, operator_grants
from pipeline.security.handover import HandoverFiles, client_settings, write_stores
from pipeline.security.pki import (
    OPERATOR_CA_DIR,
    OPERATOR_KEYS_OU,
    CertificateAuthority,
    certificate_info,
    write_private,
)
from pipeline.settings import KafkaSettings, TopicSettings


@dataclass
class AccessKey:
    key_id: str
    operator_id: str
    principal: str
    sandbox: bool
    cert: str
    key: str
    serial: str
    not_after: str
    state: str = "active"  # or "revoked"
    revoked_at: str | None = None
    # Handed over with the key (empty in registers written before they were):
    ca: str = ""  # the CA certificate, PEM
    pem: str = ""  # key + certificate in one PEM file
    keystore: str = ""  # PKCS12 keystore, when a password was given at issue
    truststore: str = ""  # PKCS12 truststore (the CA), same password
    # Issued for a bundle handed over once (the cabinet): when it was taken; its secret files are
    # then deleted from this side. None: files kept (the CLI), or not taken yet.
    handed_over_at: str | None = None
    replaces: str | None = None  # the key this one rotates (it stays active until revoked)

    def files(self) -> HandoverFiles:
        pem = Path(self.pem) if self.pem else Path(self.cert).with_suffix(".pem")
        return HandoverFiles(Path(self.cert), Path(self.key), pem, Path(self.ca),
                             Path(self.keystore) if self.keystore else None,
                             Path(self.truststore) if self.truststore else None)


class AccessKeys:
    """The register of issued keys (``<pki>/keys.json``) and the CA that signs them."""

    def __init__(
        self,
        pki_dir: Path,
        topics: TopicSettings,
        admin: KafkaSettings,
        *,
        grant_fn: Callable[[KafkaSettings, str, list[Grant]], None] = grant,
        revoke_fn: Callable[[KafkaSettings, str], int] = revoke_all,
    ) -> None:
        # Signed by the operator-keys CA (name-constrained); the bundle's CA is the root.
        self._root = CertificateAuthority(pki_dir)
        self._ca = CertificateAuthority(pki_dir / OPERATOR_CA_DIR)
        self._path = pki_dir / "keys.json"
        self._dir = pki_dir / "operators"
        self._topics = topics
        self._admin = admin
        self._grant, self._revoke = grant_fn, revoke_fn  # the broker's ACLs (tests pass fakes)

    def all(self) -> list[AccessKey]:
        if not self._path.exists():
            return []
        return [AccessKey(**k) for k in orjson.loads(self._path.read_bytes())]

    def issue(
        self,
        operator_id: str,
        sandbox: bool = False,
        pkcs12_password: str | None = None,
        *,
        keep_password: bool = False,
        replaces: str | None = None,
    ) -> AccessKey:
        """Issue a key: certificate, private key and the CA certificate, in PEM.

        With ``pkcs12_password``, also a PKCS12 keystore and truststore protected by it (the
        password is not kept anywhere: whoever issues the key hands it over). ``keep_password``
        keeps it, owner-only, beside the key until :meth:`take_bundle` hands both over.
        """
        key_id = f"k{secrets.token_hex(4)}"
        principal = f"op.{operator_id}.{key_id}"
        folder = self._dir / operator_id
        if not self._ca.key_path.exists() and self._root.key_path.exists():  # a PKI made before it
            self._root.ensure_operator_ca()
        paths = self._ca.issue(principal, folder / key_id, ou=OPERATOR_KEYS_OU)
        ca = folder / "ca.crt"
        shutil.copyfile(self._root.cert_path, ca)
        keystore = truststore = ""
        if pkcs12_password is not None:
            keystore, truststore = str(folder / f"{key_id}.p12"), str(folder / f"{key_id}.truststore.p12")
            write_stores(paths.cert, paths.key, ca, Path(keystore), Path(truststore), principal,
                         pkcs12_password)
            if keep_password:
                write_private(folder / f"{key_id}.password", pkcs12_password.encode())
        _, not_after, serial = certificate_info(paths.cert)
        self._grant(self._admin, principal, operator_grants(self._topics, operator_id, sandbox))
        key = AccessKey(key_id, operator_id, principal, sandbox, str(paths.cert), str(paths.key), serial,
                        not_after.isoformat(), ca=str(ca), pem=str(paths.pem_bundle), keystore=keystore,
                        truststore=truststore, replaces=replaces)
        self._save([*self.all(), key])
        return key

    def revoke(self, key_id: str) -> AccessKey:
        keys = self.all()
        found = next((k for k in keys if k.key_id == key_id), None)
        if found is None:
            raise KeyError(f"no access key {key_id!r}")
        self._revoke(self._admin, found.principal)
        found.state, found.revoked_at = "revoked", dt.datetime.now(dt.UTC).isoformat()
        self._save(keys)
        return found

    @staticmethod
    def bundle_ready(key: AccessKey) -> bool:
        """Whether ``key``'s bundle waits to be taken (issued with ``keep_password``, not taken yet)."""
        return key.handed_over_at is None and Path(key.key).with_suffix(".password").exists()

    def take_bundle(self, key_id: str, bootstrap: str) -> tuple[AccessKey, bytes]:
        """The key's files as one ZIP, once: its secret files are deleted here as it is made.

        The ZIP holds what ``dsom keys issue`` hands over (certificate, private key, both in one
        PEM, the CA, the PKCS12 keystore and truststore) and ``client-settings.txt``, the settings
        it prints, with the PKCS12 password. Raises :class:`BundleGone` the second time.
        """
        keys = self.all()
        found = next((k for k in keys if k.key_id == key_id), None)
        if found is None:
            raise KeyError(f"no access key {key_id!r}")
        password_file = Path(found.key).with_suffix(".password")
        if not self.bundle_ready(found):
            raise BundleGone(found)
        files = found.files()
        password = password_file.read_text()
        settings = client_settings(handed_over(files), bootstrap, self._topics, found.operator_id,
                                   found.sandbox, password)
        text = "".join(f"--- {client} ---\n{body}\n" for client, body in settings.items())
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for path in (files.cert, files.key, files.pem, files.ca, files.keystore, files.truststore):
                if path is not None:
                    z.write(path, path.name)
            z.writestr("client-settings.txt", text)
            z.writestr("README.txt", bundle_readme(found, password))
        found.handed_over_at = dt.datetime.now(dt.UTC).isoformat()
        self._save(keys)
        # The private key and the stores leave with the bundle: this side keeps the certificate.
        for path in (files.key, files.pem, files.keystore, files.truststore, password_file):
            if path is not None:
                path.unlink(missing_ok=True)
        return found, out.getvalue()

    def _save(self, keys: list[AccessKey]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps([asdict(k) for k in keys], option=orjson.OPT_INDENT_2))
        tmp.replace(self._path)


class BundleGone(Exception):
    """A key's bundle was downloaded already (or was never kept for download)."""

    def __init__(self, key: AccessKey) -> None:
        super().__init__(key.key_id)
        self.key = key


def handed_over(files: HandoverFiles) -> HandoverFiles:
    """The files as the operator unpacks them: beside each other, in the folder it unzips to."""
    return HandoverFiles(
        Path(files.cert.name), Path(files.key.name), Path(files.pem.name), Path(files.ca.name),
        Path(files.keystore.name) if files.keystore else None,
        Path(files.truststore.name) if files.truststore else None,
    )


def bundle_readme(key: AccessKey, password: str) -> str:
    where = "the sandbox" if key.sandbox else "production"
    return (f"dsom access key {key.key_id} of {key.operator_id} for {where}\n"
            f"principal {key.principal}, valid until {key.not_after}\n\n"
            f"PKCS12 password of {key.key_id}.p12 and {key.key_id}.truststore.p12: {password}\n\n"
            "This bundle can be downloaded once: keep it safe. The private key is in "
            f"{key.key_id}.key (and {key.key_id}.pem, {key.key_id}.p12); nobody else holds it.\n"
            "client-settings.txt has the settings for Java, librdkafka and Go clients: file paths\n"
            "there are relative to the folder you unzip this bundle into. See docs/integration.md.\n")
