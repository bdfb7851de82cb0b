"""Access keys: an operator's client certificate plus the ACLs that go with it.

Several keys per operator may be active at once (rotation without downtime). Revoking a key
removes its ACLs at once: the broker checks ACLs on every request, so the key stops working
for new connections and for produce requests on connections already open.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from pipeline.kafka.acl_admin import grant, revoke_all
from pipeline.security.acls import operator_grants
from pipeline.security.handover import HandoverFiles, write_stores
from pipeline.security.pki import CertificateAuthority, certificate_info
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

    def files(self) -> HandoverFiles:
        pem = Path(self.pem) if self.pem else Path(self.cert).with_suffix(".pem")
        return HandoverFiles(Path(self.cert), Path(self.key), pem, Path(self.ca),
                             Path(self.keystore) if self.keystore else None,
                             Path(self.truststore) if self.truststore else None)


class AccessKeys:
    """The register of issued keys (``<pki>/keys.json``) and the CA that signs them."""

    def __init__(self, pki_dir: Path, topics: TopicSettings, admin: KafkaSettings) -> None:
        self._ca = CertificateAuthority(pki_dir)
        self._path = pki_dir / "keys.json"
        self._dir = pki_dir / "operators"
        self._topics = topics
        self._admin = admin

    def all(self) -> list[AccessKey]:
        if not self._path.exists():
            return []
        return [AccessKey(**k) for k in orjson.loads(self._path.read_bytes())]

    def issue(self, operator_id: str, sandbox: bool = False, pkcs12_password: str | None = None) -> AccessKey:
        """Issue a key: certificate, private key and the CA certificate, in PEM.

        With ``pkcs12_password``, also a PKCS12 keystore and truststore protected by it (the
        password is not kept anywhere: whoever issues the key hands it over).
        """
        key_id = f"k{secrets.token_hex(4)}"
        principal = f"op.{operator_id}.{key_id}"
        folder = self._dir / operator_id
        paths = self._ca.issue(principal, folder / key_id)
        ca = folder / "ca.crt"
        shutil.copyfile(self._ca.cert_path, ca)
        keystore = truststore = ""
        if pkcs12_password is not None:
            keystore, truststore = str(folder / f"{key_id}.p12"), str(folder / f"{key_id}.truststore.p12")
            write_stores(paths.cert, paths.key, ca, Path(keystore), Path(truststore), principal,
                         pkcs12_password)
        _, not_after, serial = certificate_info(paths.cert)
        grant(self._admin, principal, operator_grants(self._topics, operator_id, sandbox))
        key = AccessKey(key_id, operator_id, principal, sandbox, str(paths.cert), str(paths.key), serial,
                        not_after.isoformat(), ca=str(ca), pem=str(paths.pem_bundle), keystore=keystore,
                        truststore=truststore)
        self._save([*self.all(), key])
        return key

    def revoke(self, key_id: str) -> AccessKey:
        keys = self.all()
        found = next((k for k in keys if k.key_id == key_id), None)
        if found is None:
            raise KeyError(f"no access key {key_id!r}")
        revoke_all(self._admin, found.principal)
        found.state, found.revoked_at = "revoked", dt.datetime.now(dt.UTC).isoformat()
        self._save(keys)
        return found

    def _save(self, keys: list[AccessKey]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps([asdict(k) for k in keys], option=orjson.OPT_INDENT_2))
        tmp.replace(self._path)
