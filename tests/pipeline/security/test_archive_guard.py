"""Who may write the archive: every principal but the pipeline's is a finding, and so is expiry."""

from __future__ import annotations

from pipeline.agents.app import app
from pipeline.security.acls import Grant, admin_grants, pipeline_grants
from pipeline.security.archive_guard import Binding, guard_findings
from pipeline.settings import TopicSettings

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
