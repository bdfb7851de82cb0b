"""The Kubernetes manifests come from the code's own definitions and are committed up to date."""

from __future__ import annotations

from pathlib import Path

from pipeline.security.acls import Grant
from pipeline.settings import REPO_ROOT, TopicSettings
from pipeline.tools.k8s_manifests import kafka_users, strimzi_acls, to_yaml, write


def test_yaml_subset() -> None:
    doc = {"a": 1, "b": [{"c": "x y", "d": True}, "e"], "f": {}, "g": "line1\nline2\n", "h": "dsom."}
    assert to_yaml(doc) == ('a: 1\nb:\n  - c: "x y"\n    d: true\n  - e\nf: {}\ng: |\n  line1\n  line2\n'
                            'h: dsom.')
    assert to_yaml({"n": "1e5", "t": "true"}) == 'n: "1e5"\nt: "true"'  # strings that YAML would retype


def test_grants_become_strimzi_acl_rules() -> None:
    rules = strimzi_acls([Grant("TOPIC", "dsom.", "PREFIXED", "READ"),
                          Grant("TOPIC", "dsom.", "PREFIXED", "WRITE"),
                          Grant("BROKER", "kafka-cluster", "LITERAL", "ALTER")])
    assert rules == [
        {"resource": {"type": "topic", "name": "dsom.", "patternType": "prefix"},
         "operations": ["Read", "Write"], "host": "*"},
        {"resource": {"type": "cluster"}, "operations": ["Alter"], "host": "*"}]


def test_the_pipeline_user_may_use_every_transactional_agents_ids() -> None:
    users = {u["metadata"]["name"]: u for u in kafka_users(TopicSettings())}
    assert set(users) == {"admin", "pipeline", "tax-service", "archive-guard"}
    acls = users["pipeline"]["spec"]["authorization"]["acls"]
    ids = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "transactionalId"}
    assert {"dsom-validator-", "dsom-tax-"} <= ids


def test_the_committed_manifests_are_what_the_generator_writes(tmp_path: Path) -> None:
    for path in write(tmp_path):
        committed = REPO_ROOT / "infra" / "k8s" / path.name
        assert committed.read_text() == path.read_text(), (
            f"{committed} is stale: run python -m pipeline.tools.k8s_manifests")


def test_the_archive_guard_runs_once_with_its_own_read_only_principal() -> None:
    from pipeline.settings import Settings  # noqa: PLC0415
    from pipeline.tools.k8s_manifests import workloads  # noqa: PLC0415

    s = Settings()
    [guard] = [d for d in workloads(s)
               if d["kind"] == "Deployment" and d["metadata"]["name"] == "dsom-archive-guard"]
    spec = guard["spec"]["template"]["spec"]
    assert guard["spec"]["replicas"] == 1 and spec["containers"][0]["args"] == ["archive-guard"]
    sources = spec["volumes"][0]["projected"]["sources"]
    secrets = {src["secret"]["name"]: [i["path"] for i in src["secret"]["items"]] for src in sources}
    # Where Settings.kafka_as("archive-guard") reads its certificate: <pki_dir>/archive-guard.crt, ...
    assert secrets == {"archive-guard": ["archive-guard.crt", "archive-guard.key"],
                       "dsom-cluster-ca-cert": ["ca.crt"]}
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["DSOM_PKI_DIR"]["value"] == spec["containers"][0]["volumeMounts"][0]["mountPath"]
    assert "DSOM_CLICKHOUSE__DSN" not in env and env["DSOM_KAFKA__PRINCIPAL_FORMAT"]["value"] == "CN={name}"
    users = {u["metadata"]["name"]: u for u in kafka_users(s.topics)}
    acls = users["archive-guard"]["spec"]["authorization"]["acls"]
    writes = [a["resource"].get("name") for a in acls if "Write" in a["operations"]]
    assert writes == ["dsom.alerts"]  # its alerts, nothing else
