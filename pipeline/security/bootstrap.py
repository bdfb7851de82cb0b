"""Set up a deployment's transport security: the PKI, then the service principals' ACLs."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.kafka.acl_admin import grant
from pipeline.security.acls import (
    Grant,
    admin_grants,
    archive_guard_grants,
    key_issuer_grants,
    pipeline_grants,
    tax_service_grants,
)
from pipeline.security.archive_key import init_archive_key
from pipeline.security.pki import CertificateAuthority, server_names
from pipeline.settings import Settings, TopicSettings

# key-issuer: what the cabinets' web process issues and revokes operators' keys as (docs/cabinets.md);
# archive-guard: the read-only watcher of the archive's ACLs and settings (docs/archive.md).
SERVICE_PRINCIPALS = ("admin", "pipeline", "tax-service", "key-issuer", "archive-guard")


def init_pki(settings: Settings, hosts: Sequence[str] = ()) -> None:
    """Create the CA and the broker's and services' certificates (once; existing ones are kept).

    ``hosts``: names or addresses clients reach the broker by, besides localhost and 127.0.0.1;
    a broker certificate that lacks one of them is issued again.
    """
    ca = CertificateAuthority(settings.pki_dir)
    ca.ensure()
    ca.ensure_operator_ca()  # signs operators' keys only (a name constraint): what key issuance holds
    broker = settings.pki_dir / "broker"
    cert = broker.with_suffix(".crt")
    if not broker.with_suffix(".pem").exists() or not set(hosts) <= set(server_names(cert)):
        ca.issue("broker", broker, server=True, hosts=hosts)
    for name in SERVICE_PRINCIPALS:
        if not (settings.pki_dir / f"{name}.crt").exists():
            ca.issue(name, settings.pki_dir / name)
    # On one machine one person holds both; in production the archive key is made on the
    # checkpointer's host by its custodian (`dsom archive-key init`), see docs/archive.md.
    init_archive_key(settings.archive_key_dir, settings.archive.origin)


def service_grants(topics: TopicSettings) -> dict[str, list[Grant]]:
    """Every service principal's ACLs: what the brokers are granted and what Kubernetes' KafkaUsers get."""
    from pipeline.agents.app import app  # noqa: PLC0415 - the registry imports the agents

    grants = {
        "admin": admin_grants(topics),
        "pipeline": pipeline_grants(topics, app.agents()),
        "tax-service": tax_service_grants(topics),
        "key-issuer": key_issuer_grants(),
        "archive-guard": archive_guard_grants(topics),
    }
    assert tuple(grants) == SERVICE_PRINCIPALS, "a service principal without its grants, or the reverse"
    return grants


def grant_services(settings: Settings) -> None:
    """Give the service principals their ACLs, connecting as the broker (a super user)."""
    as_broker = settings.kafka_as("broker")
    for name, grants in service_grants(settings.topics).items():
        grant(as_broker, name, grants)
