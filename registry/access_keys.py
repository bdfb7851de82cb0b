"""Operators' access keys in the registry's database: the register the cabinet and ``dsom keys`` share.

Versioned like the registry's records (rows are only inserted; the newest version per key ID is in
force), each change in the transaction that writes its audit entry. The registry's writers are
serialised (``RegistryService._write``: SQLite's ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock),
so a read-check-insert here is atomic against every other writer in any process: two keys issued
at once are both kept, and one bundle is handed over once. Until this register, keys lived in
``<pki>/keys.json``, rewritten whole by each action; :meth:`KeyStore.import_file` takes such a file
over once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.security.keys import AccessKey, AccessKeys
from pipeline.settings import KafkaSettings, Settings
from registry.db.tables import AccessKeyRow
from registry.service import RegistryService, _json, parse_principal

LEGACY_FILE = "keys.json"  # <pki>/keys.json, the register before this one
IMPORT_PRINCIPAL = "system:keys-import"
_FILES = ("cert", "key", "ca", "pem", "keystore", "truststore")


def _key(r: AccessKeyRow) -> AccessKey:
    files = orjson.loads(r.files)
    return AccessKey(
        r.key_id,
        r.operator_id,
        r.kafka_principal,
        r.sandbox,
        files["cert"],
        files["key"],
        r.serial,
        r.not_after,
        state=r.state,
        revoked_at=r.revoked_at,
        ca=files["ca"],
        pem=files["pem"],
        keystore=files["keystore"],
        truststore=files["truststore"],
        handed_over_at=r.handed_over_at,
        replaces=r.replaces,
    )


def _row(k: AccessKey, at: int, who: str) -> AccessKeyRow:
    return AccessKeyRow(
        key_id=k.key_id,
        operator_id=k.operator_id,
        kafka_principal=k.principal,
        sandbox=k.sandbox,
        state=k.state,
        serial=k.serial,
        not_after=k.not_after,
        revoked_at=k.revoked_at,
        handed_over_at=k.handed_over_at,
        replaces=k.replaces,
        files=_json({name: getattr(k, name) for name in _FILES}),
        recorded_at_us=at,
        principal=who,
    )


def _newest(s: Session, key_id: str) -> AccessKeyRow | None:
    q = select(AccessKeyRow).where(AccessKeyRow.key_id == key_id).order_by(AccessKeyRow.seq.desc()).limit(1)
    return s.scalars(q).first()


class KeyStore:
    """The :class:`~pipeline.security.keys.KeyRegister` over a :class:`RegistryService`'s database."""

    def __init__(self, svc: RegistryService) -> None:
        self._svc = svc

    def all(self, operator_id: str | None = None) -> list[AccessKey]:
        q = select(AccessKeyRow).order_by(AccessKeyRow.seq)
        if operator_id is not None:
            q = q.where(AccessKeyRow.operator_id == operator_id)
        newest: dict[str, AccessKey] = {}  # a key keeps the place of its first version: issue order
        with self._svc._read() as s:
            for r in s.scalars(q):
                newest[r.key_id] = _key(r)
        return list(newest.values())

    def add(self, key: AccessKey, by: str, action: str, detail: dict[str, Any]) -> None:
        who = parse_principal(by)
        at = self._svc._clock()
        with self._svc._write() as s:
            if _newest(s, key.key_id) is not None:
                raise ValueError(f"there is already an access key {key.key_id!r}")
            s.add(_row(key, at, str(who)))
            self._svc._audit(s, who, [(action, "access_key", key.key_id, None, detail, None)], at)

    def change(
        self,
        key_id: str,
        change: Callable[[AccessKey], AccessKey],
        by: str,
        action: str,
        detail: dict[str, Any],
    ) -> AccessKey:
        who = parse_principal(by)
        at = self._svc._clock()
        with self._svc._write() as s:
            row = _newest(s, key_id)
            if row is None:
                raise KeyError(f"no access key {key_id!r}")
            new = change(_key(row))
            if new.key_id != key_id or new.operator_id != row.operator_id:
                raise ValueError(f"a change of access key {key_id!r} cannot make it another key")
            s.add(_row(new, at, str(who)))
            self._svc._audit(s, who, [(action, "access_key", key_id, None, detail, None)], at)
        return new

    def history(self, key_id: str) -> list[AccessKey]:
        with self._svc._read() as s:
            q = select(AccessKeyRow).where(AccessKeyRow.key_id == key_id).order_by(AccessKeyRow.seq)
            return [_key(r) for r in s.scalars(q)]

    def import_file(self, path: Path) -> list[str]:
        """Take over a register file of before (``<pki>/keys.json``): the key IDs added.

        Keys the database already knows are left as they are; the file is then renamed
        ``keys.json.imported``, so nothing reads it again. Safe when two processes start at once:
        the inserts are one transaction, and the second finds them there.
        """
        if not path.exists():
            return []
        entries = [AccessKey(**d) for d in orjson.loads(path.read_bytes())]
        who = parse_principal(IMPORT_PRINCIPAL)
        at = self._svc._clock()
        added = []
        with self._svc._write() as s:
            for k in entries:
                if _newest(s, k.key_id) is not None:
                    continue
                s.add(_row(k, at, str(who)))
                detail = {
                    "operator_id": k.operator_id,
                    "state": k.state,
                    "sandbox": k.sandbox,
                    "file": str(path),
                }
                self._svc._audit(s, who, [("key_import", "access_key", k.key_id, None, detail, None)], at)
                added.append(k.key_id)
        try:
            path.rename(path.with_name(path.name + ".imported"))
        except FileNotFoundError:  # another process imported and renamed it meanwhile
            pass
        return added


def key_store(svc: RegistryService, pki_dir: Path) -> KeyStore:
    """The register over ``svc``'s database, with ``<pki_dir>/keys.json`` of before imported once."""
    store = KeyStore(svc)
    store.import_file(pki_dir / LEGACY_FILE)
    return store


_stores: dict[tuple[str, Path], KeyStore] = {}


def access_keys(settings: Settings, admin: KafkaSettings, **broker: Any) -> AccessKeys:
    """Keys signed by ``settings``' PKI, granted as ``admin``, recorded in the registry's database.

    One database connection pool per registry and PKI in a process (tools and tests call this
    for each operator). ``broker`` passes ``grant_fn``/``revoke_fn`` (fakes in tests).
    """
    where = (settings.registry.dsn.get_secret_value(), Path(settings.pki_dir))
    if where not in _stores:
        _stores[where] = key_store(RegistryService.from_settings(settings), settings.pki_dir)
    return AccessKeys(settings.pki_dir, settings.topics, admin, _stores[where],
                      bundle_ca=settings.bundle_ca_path, **broker)
