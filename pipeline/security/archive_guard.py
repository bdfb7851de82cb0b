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

from pipeline.settings import KafkaSettings, TopicSettings

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


@dataclass(frozen=True)
class Breach:
    """One rule broken now: ``subject`` names what breaks it (stable while it holds), ``text`` says it.

    Subjects: ``<topic>|acl|<principal>|<operation>|<pattern>|<name>``, ``<topic>|config|<key>``,
    ``<topic>|deleted``; the guard's alerts are keyed by them (one open alert per subject).
    """

    subject: str
    text: str


def guard_breaches(topics: TopicSettings, bindings: Iterable[Binding], archive_config: dict[str, str],
                   pipeline_principal: str = "User:pipeline") -> list[Breach]:
    out = []
    for topic in (topics.archive, topics.checkpoints):
        for b in bindings:
            if b.principal != pipeline_principal and b.operation in _WRITE_LIKE and _covers(b, topic):
                out.append(Breach(f"{topic}|acl|{b.principal}|{b.operation}|{b.pattern}|{b.name}",
                                  f"{b.principal} may {b.operation} {topic} (ACL on {b.pattern.lower()} "
                                  f"{b.name!r}): only {pipeline_principal} should write it"))
    for key, (want, why) in REQUIRED.items():
        have = archive_config.get(key)
        if have != want:
            out.append(Breach(f"{topics.archive}|config|{key}",
                              f"{topics.archive} has {key}={have}, not {want}: {why}"))
    return out


def guard_findings(topics: TopicSettings, bindings: Iterable[Binding], archive_config: dict[str, str],
                   pipeline_principal: str = "User:pipeline") -> list[str]:
    return [b.text for b in guard_breaches(topics, bindings, archive_config, pipeline_principal)]


def state_breaches(topics: TopicSettings, state: GuardState,
                   pipeline_principal: str = "User:pipeline") -> list[Breach]:
    """The rules ``state`` breaks: :func:`guard_breaches`, and either topic deleted.

    A deleted archive is one breach, not one per setting it no longer has.
    """
    gone = [t for t in (topics.archive, topics.checkpoints) if not state.config(t)]
    breaches = guard_breaches(topics, state.bindings, state.config(topics.archive), pipeline_principal)
    if topics.archive in gone:
        breaches = [b for b in breaches if not b.subject.startswith(f"{topics.archive}|config|")]
    return breaches + [Breach(f"{t}|deleted", f"{t} was deleted") for t in gone]


def read_guard(topics: TopicSettings, kafka: KafkaSettings) -> list[str]:
    """The findings for the broker's current ACLs and archive settings (needs DESCRIBE on both)."""
    bindings, configs = _describe(topics, kafka, (topics.archive,))
    # the pipeline as the brokers name it (Strimzi: User:CN=pipeline)
    return guard_findings(topics, bindings, configs.get(topics.archive, {}), kafka.principal("pipeline"))


# -- the live guard (``dsom archive-guard``): changes as they happen, not only when checked --

@dataclass(frozen=True)
class GuardState:
    """What the guard watches: ACLs that could let anyone change the archive, and both topics' settings.

    The ACLs kept are every binding on the archive or the checkpoints, and the cluster's (ALTER on
    the cluster grants any ACL).
    """

    bindings: frozenset[Binding]
    configs: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # ((topic, ((key, value), ...)), ...)

    @classmethod
    def of(cls, topics: TopicSettings, bindings: Iterable[Binding],
           configs: dict[str, dict[str, str]]) -> GuardState:
        watched = (topics.archive, topics.checkpoints)
        kept = frozenset(b for b in bindings
                         if b.resource == "BROKER" or any(_covers(b, t) for t in watched))
        return cls(kept, tuple((t, tuple(sorted(configs.get(t, {}).items()))) for t in watched))

    def config(self, topic: str) -> dict[str, str]:
        return dict(dict(self.configs).get(topic, ()))

    def to_json(self) -> dict[str, object]:
        acls = sorted([b.principal, b.resource, b.name, b.pattern, b.operation] for b in self.bindings)
        return {"acls": acls,
                "configs": {t: dict(kv) for t, kv in self.configs}}

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> GuardState:
        acls = doc.get("acls", [])
        configs = doc.get("configs", {})
        assert isinstance(acls, list) and isinstance(configs, dict)
        return cls(frozenset(Binding(*a) for a in acls),
                   tuple((t, tuple(sorted(kv.items()))) for t, kv in configs.items()))


@dataclass(frozen=True)
class GuardChange:
    """One change between two looks: an audit entry's action, what changed, and what it now breaks."""

    action: str  # archive_acl_added, archive_acl_removed, archive_config_changed, archive_topic_deleted, ...
    detail: dict[str, object]
    findings: tuple[str, ...]  # the guard's rules the new state breaks because of this change

    def describe(self) -> str:
        d = self.detail
        if self.action == "archive_config_changed":
            return f"{d['topic']}: {d['key']} changed from {d['before']} to {d['after']}"
        if self.action in ("archive_topic_deleted", "archive_topic_created"):
            return f"{d['topic']} was {self.action.rpartition('_')[2]}"
        verb = "granted" if self.action == "archive_acl_added" else "revoked"
        return (f"ACL {verb}: {d['principal']} {d['operation']} on {str(d['resource']).lower()} "
                f"{str(d['pattern']).lower()} {d['name']!r}")


def guard_changes(topics: TopicSettings, before: GuardState, after: GuardState,
                  pipeline_principal: str = "User:pipeline") -> list[GuardChange]:
    """Every ACL added or removed and every setting changed from ``before`` to ``after``, in order."""
    out: list[GuardChange] = []
    for action, bindings in (("archive_acl_added", after.bindings - before.bindings),
                             ("archive_acl_removed", before.bindings - after.bindings)):
        for b in sorted(bindings, key=lambda b: (b.principal, b.resource, b.name, b.operation)):
            findings = () if action == "archive_acl_removed" else tuple(
                guard_findings(topics, [b], REQUIRED_VALUES, pipeline_principal))
            out.append(GuardChange(action, {"principal": b.principal, "resource": b.resource, "name": b.name,
                                            "pattern": b.pattern, "operation": b.operation}, findings))
    for topic, _ in after.configs:
        old, new = before.config(topic), after.config(topic)
        if bool(old) != bool(new):  # no settings: the topic does not exist
            action = "archive_topic_deleted" if old else "archive_topic_created"
            out.append(GuardChange(action, {"topic": topic, "config": new},
                                   (f"{topic} was deleted",) if old else ()))
            continue
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                finding = REQUIRED.get(key) if topic == topics.archive else None
                findings = () if finding is None or new.get(key) == finding[0] else (
                    f"{topic} has {key}={new.get(key)}, not {finding[0]}: {finding[1]}",)
                detail: dict[str, object] = {"topic": topic, "key": key, "before": old.get(key),
                                             "after": new.get(key)}
                out.append(GuardChange("archive_config_changed", detail, findings))
    return out


REQUIRED_VALUES = {key: want for key, (want, _) in REQUIRED.items()}  # a config that breaks no setting rule


def read_state(topics: TopicSettings, kafka: object) -> GuardState:
    """The broker's ACLs and both topics' settings now (DESCRIBE on the cluster, DESCRIBE_CONFIGS)."""
    bindings, configs = _describe(topics, kafka, (topics.archive, topics.checkpoints))
    return GuardState.of(topics, bindings, configs)


def _describe(topics: TopicSettings, kafka: object,
              names: tuple[str, ...]) -> tuple[list[Binding], dict[str, dict[str, str]]]:
    from confluent_kafka import KafkaError, KafkaException  # noqa: PLC0415
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
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in names]
    configs = {}
    for r, fut in admin.describe_configs(resources).items():
        try:
            configs[r.name] = {k: v.value for k, v in fut.result(30).items()}
        except KafkaException as exc:  # a deleted topic has no settings: the guard reports that
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
    return bindings, configs
