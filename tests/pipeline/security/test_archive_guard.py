"""Who may write the archive: every principal but the pipeline's is a finding, and so is expiry."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from prometheus_client import REGISTRY as PROMETHEUS
from pydantic import SecretStr

from pipeline.agents.app import app
from pipeline.archive_guard_service import ENTITY, ArchiveGuard
from pipeline.core.alert_rules import AlertRules
from pipeline.security.acls import Grant, admin_grants, pipeline_grants
from pipeline.security.archive_guard import Binding, GuardState, guard_changes, guard_findings, state_breaches
from pipeline.settings import RegistrySettings, Settings, TopicSettings
from registry.service import RegistryService
from schemas import ALERT, default_codec

T = TopicSettings(prefix="dsom")
GOOD = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


def _bindings(principal: str, grants: list[Grant]) -> list[Binding]:
    return [Binding(f"User:{principal}", g.resource, g.name, g.pattern, g.operation) for g in grants]


def test_the_deployments_own_grants_pass() -> None:
    grants = _bindings("pipeline", pipeline_grants(T, app.agents())) + _bindings("admin", admin_grants(T))
    assert guard_findings(T, grants, GOOD) == []


def test_an_admin_granting_itself_write_and_shortening_retention_is_found() -> None:
    bindings = [Binding("User:admin", "TOPIC", "dsom.", "PREFIXED", "WRITE"),
                Binding("User:*", "TOPIC", "dsom.checkpoints", "LITERAL", "ALL"),
                Binding("User:op.x.k1", "TOPIC", "dsom.ingest.x", "LITERAL", "WRITE")]  # not the archive
    assert guard_findings(T, bindings, {**GOOD, "retention.ms": "1000"}) == [
        "User:admin may WRITE dsom.archive (ACL on prefixed 'dsom.'): only User:pipeline should write it",
        "User:admin may WRITE dsom.checkpoints (ACL on prefixed 'dsom.'): only User:pipeline should write it",
        "User:* may ALL dsom.checkpoints (ACL on literal 'dsom.checkpoints'): "
        "only User:pipeline should write it",
        "dsom.archive has retention.ms=1000, not -1: records expire",
    ]


# -- the live guard --

def _state(bindings: list[Binding], archive: dict[str, str] | None = None) -> GuardState:
    other = Binding("User:op.x.k1", "TOPIC", "dsom.ingest.x", "LITERAL", "WRITE")  # not watched
    configs = {T.archive: archive or GOOD, T.checkpoints: {"retention.ms": "-1"}}
    return GuardState.of(T, [*bindings, other], configs)


BASE = _bindings("pipeline", pipeline_grants(T, app.agents())) + _bindings("admin", admin_grants(T))


def test_the_state_keeps_what_touches_the_archive_and_round_trips() -> None:
    state = _state(BASE)
    assert all(b.principal != "User:op.x.k1" for b in state.bindings)
    assert any(b.resource == "BROKER" for b in state.bindings)  # ALTER on the cluster grants any ACL
    assert GuardState.from_json(orjson.loads(orjson.dumps(state.to_json()))) == state


def test_changes_name_what_changed_and_what_it_breaks() -> None:
    write = Binding("User:admin", "TOPIC", "dsom.archive", "LITERAL", "WRITE")
    after = _state([*BASE, write], {**GOOD, "retention.ms": "1000", "segment.ms": "60000"})
    changes = guard_changes(T, _state(BASE), after)
    assert [(c.action, c.describe(), c.findings) for c in changes] == [
        ("archive_acl_added", "ACL granted: User:admin WRITE on topic literal 'dsom.archive'",
         ("User:admin may WRITE dsom.archive (ACL on literal 'dsom.archive'): "
          "only User:pipeline should write it",)),
        ("archive_config_changed", "dsom.archive: retention.ms changed from -1 to 1000",
         ("dsom.archive has retention.ms=1000, not -1: records expire",)),
        ("archive_config_changed", "dsom.archive: segment.ms changed from None to 60000", ()),
    ]
    back = guard_changes(T, after, _state(BASE))
    assert [(c.action, c.findings) for c in back][:1] == [("archive_acl_removed", ())]
    assert guard_changes(T, after, after) == []


class Broker:
    """What the guard sees, changed by the test between looks."""

    def __init__(self) -> None:
        self.state = _state(BASE)

    def look(self) -> GuardState:
        return self.state


def test_the_guard_records_each_change_in_the_audit_log_and_resumes_from_it(tmp_path: Path) -> None:
    registry = RegistryService.from_settings(Settings(
        pki_dir=tmp_path, registry=RegistrySettings(dsn=SecretStr(f"sqlite:///{tmp_path / 'r.sqlite'}"))))
    broker = Broker()
    guard = ArchiveGuard(T, registry, broker.look)
    assert guard.check() == []  # the baseline
    assert guard.check() == []
    broker.state = _state(BASE, {**GOOD, "retention.ms": "1000"})
    [change] = guard.check()
    assert change.action == "archive_config_changed"
    entries = registry.audit_entries(entity_id=ENTITY)
    assert [(e.principal, e.action) for e in entries] == [
        ("system:archive-guard", "archive_guard_baseline"),
        ("system:archive-guard", "archive_config_changed")]
    assert entries[-1].reason == "dsom.archive: retention.ms changed from -1 to 1000"
    assert orjson.loads(entries[-1].after)["findings"] == [
        "dsom.archive has retention.ms=1000, not -1: records expire"]
    assert sample("dsom_archive_guard_findings") == 1
    # Restarted after a change made while it was down: the change is recorded at its first look.
    broker.state = _state([*BASE, Binding("User:admin", "TOPIC", "dsom.archive", "LITERAL", "DELETE")],
                          {**GOOD, "retention.ms": "1000"})
    [change] = ArchiveGuard(T, registry, broker.look).check()
    assert change.action == "archive_acl_added" and change.findings
    assert registry.verify_audit().ok


def sample(name: str) -> float | None:
    return PROMETHEUS.get_sample_value(name)


def test_a_deleted_or_recreated_topic_is_one_change() -> None:
    present = _state(BASE)
    gone = GuardState.of(T, BASE, {T.archive: GOOD})  # the checkpoints topic has no settings: deleted
    assert [(c.describe(), c.findings) for c in guard_changes(T, present, gone)] == [
        ("dsom.checkpoints was deleted", ("dsom.checkpoints was deleted",))]
    assert [c.describe() for c in guard_changes(T, gone, present)] == ["dsom.checkpoints was created"]


def test_state_breaches_name_a_stable_subject_and_a_deleted_archive_once() -> None:
    write = Binding("User:admin", "TOPIC", "dsom.archive", "LITERAL", "WRITE")
    breaches = state_breaches(T, _state([*BASE, write], {**GOOD, "retention.ms": "1000"}))
    assert [b.subject for b in breaches] == ["dsom.archive|acl|User:admin|WRITE|LITERAL|dsom.archive",
                                            "dsom.archive|config|retention.ms"]
    gone = GuardState.of(T, BASE, {T.checkpoints: {"retention.ms": "-1"}})  # the archive deleted
    assert [(b.subject, b.text) for b in state_breaches(T, gone)] == [
        ("dsom.archive|deleted", "dsom.archive was deleted")]


class Outbox:
    """The alerts topic as the guard sees it: what was sent, or a failure to send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self.down = False

    def send(self, alerts: list[dict[str, object]]) -> None:
        if self.down:
            raise RuntimeError("broker down")
        self.sent += alerts


def test_the_guard_opens_one_alert_per_broken_rule_and_resolves_it_after_a_restart(tmp_path: Path) -> None:
    registry = RegistryService.from_settings(Settings(
        pki_dir=tmp_path, registry=RegistrySettings(dsn=SecretStr(f"sqlite:///{tmp_path / 'r.sqlite'}"))))
    rules = AlertRules.load(Settings().alerts.rules_path)
    broker, outbox, clock = Broker(), Outbox(), iter(range(1_000, 100_000, 1_000))

    def guard() -> ArchiveGuard:
        return ArchiveGuard(T, registry, broker.look, rules, outbox.send, clock=lambda: next(clock))

    first = guard()
    assert first.check() == [] and outbox.sent == []  # the baseline breaks nothing: no alert
    broker.state = _state(BASE, {**GOOD, "retention.ms": "1000"})
    first.check()
    first.check()  # still broken: no second alert
    [opened] = outbox.sent
    assert (opened["state"], opened["rule"], opened["severity"], opened["subject_kind"], opened["subject"],
            opened["operator_id"]) == ("OPENED", "archive_guard", "CRITICAL", "ARCHIVE",
                                       "dsom.archive|config|retention.ms", "")
    assert opened["summary"] == "dsom.archive has retention.ms=1000, not -1: records expire"
    assert default_codec().decode(default_codec().encode(ALERT, opened))[1] == opened  # the schema's
    # The setting put back while the guard was down: the new guard resolves the alert it opened.
    broker.state = _state(BASE)
    second = guard()
    second.check()
    resolved = outbox.sent[-1]
    assert (resolved["state"], resolved["alert_id"], resolved["opened_at_us"]) == (
        "RESOLVED", opened["alert_id"], opened["opened_at_us"])
    assert [a["state"] for a in outbox.sent] == ["OPENED", "OPENED", "RESOLVED"]  # the last entry's again
    # Kafka down when an alert is due: it is sent at the next look that can.
    outbox.down = True
    broker.state = _state([*BASE, Binding("User:admin", "TOPIC", "dsom.", "PREFIXED", "DELETE")])
    with pytest.raises(RuntimeError):
        second.check()
    outbox.down = False
    second.check()
    assert sorted((a["state"], a["subject"]) for a in outbox.sent[3:]) == [
        ("OPENED", "dsom.archive|acl|User:admin|DELETE|PREFIXED|dsom."),
        ("OPENED", "dsom.checkpoints|acl|User:admin|DELETE|PREFIXED|dsom.")]
    assert registry.verify_audit().ok
