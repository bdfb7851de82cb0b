"""Operators' access keys, self-service: issue, hand the bundle over once, rotate, revoke.

A thin layer over ``pipeline.security.keys.AccessKeys`` (the same code as ``dsom keys issue``),
confined to the caller's operator: a key of another operator is answered exactly as a key that
does not exist. The web process holds only what issuing needs (docs/cabinets.md): the
operator-keys CA, which can sign nothing but operators' keys, and the ``key-issuer`` principal's
certificate, which may create and delete ACLs and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.security.handover import new_password
from pipeline.security.keys import AccessKey, AccessKeys, BundleGone, KeyNotActive
from pipeline.security.pki import OPERATOR_CA_DIR
from pipeline.settings import Settings
from registry.access_keys import key_store
from registry.service import RegistryService
from web import labels
from web.i18n import gettext as _


class KeyRefused(Exception):
    """A key action the caller may not take; ``message`` says why, in the caller's language."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def own_key(keys: list[AccessKey], operator_id: str, key_id: str) -> AccessKey:
    """``key_id`` among ``operator_id``'s keys (pure); another operator's key is "not found" too."""
    found = next((k for k in keys if k.key_id == key_id and k.operator_id == operator_id), None)
    if found is None:
        raise KeyRefused(_("Your operator has no access key %(key)s.") % {"key": key_id}, 404)
    return found


@dataclass
class KeyDesk:
    """The keys of the session's operator, acting as the session's person (``by``, ``role:name``).

    Concurrent requests, and ``dsom keys`` in another process, are kept apart by the register
    (the registry's database, ``registry.access_keys``), not here.
    """

    keys: AccessKeys
    bootstrap: str  # what the bundle's client settings connect to

    def of(self, operator_id: str) -> list[AccessKey]:
        return self.keys.all(operator_id)[::-1]

    def issue(self, operator_id: str, sandbox: bool, *, by: str, replaces: str | None = None) -> AccessKey:
        return self.keys.issue(
            operator_id, sandbox, new_password(), keep_password=True, replaces=replaces, by=by
        )

    def rotate(self, operator_id: str, key_id: str, *, by: str) -> AccessKey:
        """A new key for the same place (sandbox or production); the old one works until revoked."""
        old = own_key(self.keys.all(operator_id), operator_id, key_id)
        if old.state != "active":
            raise KeyRefused(_("Key %(key)s is revoked: issue a new key instead.") % {"key": key_id}, 409)
        return self.issue(operator_id, old.sandbox, by=by, replaces=old.key_id)

    def take_bundle(self, operator_id: str, key_id: str, *, by: str) -> tuple[AccessKey, bytes]:
        key = own_key(self.keys.all(operator_id), operator_id, key_id)
        if key.state != "active":
            raise KeyRefused(
                _("Key %(key)s is revoked: its bundle is no longer handed out.") % {"key": key_id}, 410
            )
        try:
            return self.keys.take_bundle(key_id, self.bootstrap, by=by)
        except BundleGone as exc:
            if exc.key.handed_over_at is None:  # issued by `dsom keys issue`: handed over as files
                raise KeyRefused(
                    _("Key %(key)s was handed over outside the cabinet; its bundle is not kept here.")
                    % {"key": key_id},
                    410,
                ) from exc
            raise KeyRefused(
                _(
                    "The bundle of key %(key)s was already downloaded (%(when)s) and is not kept: "
                    "it can be downloaded only once. If it is lost, revoke the key and issue a new one."
                )
                % {"key": key_id, "when": labels.moment(exc.key.handed_over_at)},
                410,
            ) from exc

    def revoke(self, operator_id: str, key_id: str, *, by: str) -> AccessKey:
        key = own_key(self.keys.all(operator_id), operator_id, key_id)
        try:
            if key.state != "active":
                raise KeyNotActive(key)
            return self.keys.revoke(key_id, by=by)
        except KeyNotActive as exc:  # revoked before, or by another request meanwhile
            raise KeyRefused(_("Key %(key)s is already revoked.") % {"key": key_id}, 409) from exc


def desk_files(settings: Settings) -> list[Path]:
    """The files the web process needs to issue keys (``desk_from_settings``)."""
    pki: Path = settings.pki_dir
    principal = settings.web.keys_principal
    return [
        pki / OPERATOR_CA_DIR / "ca.crt",
        pki / OPERATOR_CA_DIR / "ca.key",
        pki / f"{principal}.crt",
        pki / f"{principal}.key",
        settings.broker_ca,
        settings.bundle_ca_path,
    ]


def desk_from_settings(settings: Settings, registry: RegistryService) -> KeyDesk | None:
    """The web process's key desk, or None when this deployment has no key-issuing credentials here.

    It needs the operator-keys CA (``<pki_dir>/operator-ca/``: it signs nothing but operators'
    keys), the ``web.keys_principal`` certificate (``key-issuer``: it may manage ACLs, nothing
    else), the CA it verifies the brokers with (``Settings.broker_ca``) and the CA handed over in
    the bundle (``Settings.bundle_ca_path``); not the root's key. The two CAs are one file on dsom's
    own brokers (``<pki_dir>/ca.crt``) and two on Kubernetes. The register is ``registry``'s database.
    """
    if not all(path.exists() for path in desk_files(settings)):
        return None
    pki: Path = settings.pki_dir
    keys = AccessKeys(pki, settings.topics, settings.kafka_as(settings.web.keys_principal),
                      key_store(registry, pki), bundle_ca=settings.bundle_ca_path)
    return KeyDesk(keys, settings.kafka.bootstrap_servers)
