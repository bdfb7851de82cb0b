"""Access keys: an operator's client certificate plus the ACLs that go with it.

Several keys per operator may be active at once (rotation without downtime). Revoking a key
removes its ACLs at once: the broker checks ACLs on every request, so the key stops working
for new connections and for produce requests on connections already open. The register of
issued keys is the registry's database (``registry.access_keys``), behind :class:`KeyRegister`.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

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

# Who acts when no person is named: the administrator's ``dsom keys`` on the host.
CLI_PRINCIPAL = "system:dsom-keys"


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


class KeyRegister(Protocol):
    """Where issued keys are recorded: ``registry.access_keys.KeyStore``, the registry's database.

    Every write is one transaction, serialised against every other writer in any process (the
    cabinet's requests, ``dsom keys``), and carries its audit entry: ``by`` is who acts
    (``role:name``, as the registry names principals), ``action`` and ``detail`` the entry.
    """

    def all(self, operator_id: str | None = None) -> list[AccessKey]:
        """The version in force of every key (of one operator), in the order they were issued."""
        ...

    def add(self, key: AccessKey, by: str, action: str, detail: dict[str, Any]) -> None:
        """Record a new key."""
        ...

    def change(
        self,
        key_id: str,
        change: Callable[[AccessKey], AccessKey],
        by: str,
        action: str,
        detail: dict[str, Any],
    ) -> AccessKey:
        """Record ``change(key in force)`` as the key's next version, atomically.

        ``change`` sees the version no other writer can change until this one commits; whatever it
        raises rolls the transaction back and reaches the caller. ``KeyError`` for an unknown key.
        """
        ...


class AccessKeys:
    """Issue, hand over, rotate and revoke keys: the CA that signs them, the broker's ACLs, the register."""

    def __init__(
        self,
        pki_dir: Path,
        topics: TopicSettings,
        admin: KafkaSettings,
        register: KeyRegister,
        *,
        bundle_ca: Path | None = None,
        grant_fn: Callable[[KafkaSettings, str, list[Grant]], None] = grant,
        revoke_fn: Callable[[KafkaSettings, str], int] = revoke_all,
    ) -> None:
        # Signed by the operator-keys CA (name-constrained). The bundle carries ``bundle_ca``, what
        # the operator's clients verify the brokers with: by default the root, which signs dsom's
        # own brokers (Settings.bundle_ca: on Kubernetes, the CA of Strimzi's listener instead).
        self._root = CertificateAuthority(pki_dir)
        self._bundle_ca = bundle_ca or self._root.cert_path
        self._ca = CertificateAuthority(pki_dir / OPERATOR_CA_DIR)
        self._dir = pki_dir / "operators"
        self._topics = topics
        self._admin = admin
        self.register = register
        self._grant, self._revoke = grant_fn, revoke_fn  # the broker's ACLs (tests pass fakes)

    def all(self, operator_id: str | None = None) -> list[AccessKey]:
        return self.register.all(operator_id)

    def get(self, key_id: str) -> AccessKey:
        found = next((k for k in self.register.all() if k.key_id == key_id), None)
        if found is None:
            raise KeyError(f"no access key {key_id!r}")
        return found

    def issue(
        self,
        operator_id: str,
        sandbox: bool = False,
        pkcs12_password: str | None = None,
        *,
        keep_password: bool = False,
        replaces: str | None = None,
        by: str = CLI_PRINCIPAL,
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
        shutil.copyfile(self._bundle_ca, ca)
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
        if replaces is None:
            detail = {"sandbox": sandbox, "principal": principal, "not_after": key.not_after}
            self.register.add(key, by, "key_issue", detail)
        else:
            self.register.add(key, by, "key_rotate", {"replaces": replaces, "sandbox": sandbox})
        return key

    def revoke(self, key_id: str, *, by: str = CLI_PRINCIPAL) -> AccessKey:
        """Remove the key's ACLs, then record it revoked (:class:`KeyNotActive` if it was already)."""
        found = self.get(key_id)
        # The broker first: a key recorded as revoked must not work.
        self._revoke(self._admin, found.principal)

        def revoked(k: AccessKey) -> AccessKey:
            if k.state != "active":
                raise KeyNotActive(k)
            return replace(k, state="revoked", revoked_at=dt.datetime.now(dt.UTC).isoformat())

        return self.register.change(key_id, revoked, by, "key_revoke", {"sandbox": found.sandbox})

    @staticmethod
    def bundle_ready(key: AccessKey) -> bool:
        """Whether ``key``'s bundle waits to be taken (issued with ``keep_password``, not taken yet)."""
        return key.handed_over_at is None and Path(key.key).with_suffix(".password").exists()

    def take_bundle(self, key_id: str, bootstrap: str, *, by: str = CLI_PRINCIPAL) -> tuple[AccessKey, bytes]:
        """The key's files as one ZIP, once: its secret files are deleted here as it is made.

        The ZIP holds what ``dsom keys issue`` hands over (certificate, private key, both in one
        PEM, the CA, the PKCS12 keystore and truststore) and ``client-settings.txt``, the settings
        it prints, with the PKCS12 password. Raises :class:`BundleGone` the second time, also when
        two requests ask at once: the register records one handover, and only its taker gets the ZIP.
        """
        found = self.get(key_id)
        password_file = Path(found.key).with_suffix(".password")
        if not self.bundle_ready(found):
            raise BundleGone(found)
        files = found.files()
        try:
            zipped = self._zip(found, files, password_file.read_text(), bootstrap)
        except FileNotFoundError:  # taken meanwhile: its files are being deleted
            raise BundleGone(self.get(key_id)) from None

        def taken(k: AccessKey) -> AccessKey:
            if k.handed_over_at is not None:
                raise BundleGone(k)
            return replace(k, handed_over_at=dt.datetime.now(dt.UTC).isoformat())

        key = self.register.change(key_id, taken, by, "key_bundle", {"sandbox": found.sandbox})
        # The private key and the stores leave with the bundle: this side keeps the certificate.
        for path in (files.key, files.pem, files.keystore, files.truststore, password_file):
            if path is not None:
                path.unlink(missing_ok=True)
        return key, zipped

    def _zip(self, key: AccessKey, files: HandoverFiles, password: str, bootstrap: str) -> bytes:
        settings = client_settings(handed_over(files), bootstrap, self._topics, key.operator_id,
                                   key.sandbox, password)
        text = "".join(f"--- {client} ---\n{body}\n" for client, body in settings.items())
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for path in (files.cert, files.key, files.pem, files.ca, files.keystore, files.truststore):
                if path is not None:
                    z.write(path, path.name)
            z.writestr("client-settings.txt", text)
            z.writestr("README.txt", bundle_readme(key, password))
        return out.getvalue()


class BundleGone(Exception):
    """A key's bundle was downloaded already (or was never kept for download)."""

    def __init__(self, key: AccessKey) -> None:
        super().__init__(key.key_id)
        self.key = key


class KeyNotActive(Exception):
    """The key is revoked: it cannot be revoked again."""

    def __init__(self, key: AccessKey) -> None:
        super().__init__(f"access key {key.key_id} is already revoked")
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
