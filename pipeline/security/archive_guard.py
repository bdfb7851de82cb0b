"""Who may change the archive, as the broker says now: the check ``dsom verify-archive --guard`` runs.

Kafka's authorizer cannot keep the admin (who must create ACLs to issue operators' keys) from
granting itself WRITE on the archive, or from setting its retention to a second: ALTER on the
cluster covers every ACL, ALTER_CONFIGS on a topic every setting. So the rights are checked
instead: any principal but the pipeline that can write (or delete from) the archive or the
checkpoints, and any archive setting that lets Kafka drop records, is a finding. Pure over
the ACL bindings and configs, which the caller reads with a principal allowed to describe them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.settings import TopicSettings

# What lets a principal add records to a topic or remove them (delete-records, delete-topic).
# Not ALTER_CONFIGS: the admin holds it on every topic to create them, and cannot be denied it
# on the archive alone by a prefixed grant; its use is caught by the settings check below.
_WRITE_LIKE = {"WRITE", "DELETE", "ALL"}
# The archive's settings that must hold, and what each prevents.
REQUIRED = {"retention.ms": ("-1", "records expire"),
            "retention.bytes": ("-1", "records are dropped for space"),
            "cleanup.policy": ("delete", "compaction keeps only one record per key")}


@dataclass(frozen=True)
class Binding:
    """One ALLOW ACL as the broker lists it."""

    principal: str  # "User:pipeline"
    resource: str  # "TOPIC", ...
    name: str
    pattern: str  # "LITERAL" or "PREFIXED"
    operation: str


def _covers(b: Binding, topic: str) -> bool:
    if b.resource != "TOPIC":
        return False
    if b.name == "*":
        return True
    return topic == b.name if b.pattern == "LITERAL" else topic.startswith(b.name)


def guard_findings(topics: TopicSettings, bindings: Iterable[Binding], archive_config: dict[str, str],
                   pipeline_principal: str = "User:pipeline") -> list[str]:
    findings = []
    for topic in (topics.archive, topics.checkpoints):
        for b in bindings:
            if b.principal != pipeline_principal and b.operation in _WRITE_LIKE and _covers(b, topic):
                findings.append(f"{b.principal} may {b.operation} {topic} (ACL on {b.pattern.lower()} "
                                f"{b.name!r}): only {pipeline_principal} should write it")
    for key, (want, why) in REQUIRED.items():
        have = archive_config.get(key)
        if have != want:
            findings.append(f"{topics.archive} has {key}={have}, not {want}: {why}")
    return findings


def read_guard(topics: TopicSettings, kafka: object) -> list[str]:
    """The findings for the broker's current ACLs and archive settings (needs DESCRIBE on both)."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # noqa: PLC0415
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ConfigResource,
        ResourcePatternType,
        ResourceType,
    )

    from pipeline.kafka.config import client_config  # noqa: PLC0415

    admin = AdminClient(client_config(kafka))  # type: ignore[arg-type]
    match = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,  # type: ignore[arg-type]
                             None, None, AclOperation.ANY, AclPermissionType.ALLOW)  # type: ignore[arg-type]
    bindings = [Binding(a.principal, a.restype.name, a.name, a.resource_pattern_type.name, a.operation.name)
                for a in admin.describe_acls(match, request_timeout=30).result()]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topics.archive)
    config = {k: v.value for k, v in admin.describe_configs([resource])[resource].result(30).items()}
    return guard_findings(topics, bindings, config)
