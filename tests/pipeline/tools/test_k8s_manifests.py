"""The Kubernetes manifests come from the code's own definitions and are committed up to date."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.security.acls import Grant, key_issuer_grants
from pipeline.security.bootstrap import SERVICE_PRINCIPALS
from pipeline.security.pki import principal_mapping_rules
from pipeline.settings import REPO_ROOT, KafkaSettings, TopicSettings
from pipeline.tools.k8s_manifests import PRINCIPAL_FORMAT, kafka, kafka_users, strimzi_acls, to_yaml, write


def mapped(rules: str, subject: str) -> str:
    """The principal name Kafka's ``ssl.principal.mapping.rules`` give ``subject`` (its RULE syntax)."""
    for pattern, replacement in re.findall(r"RULE:((?:\\/|[^/])*)/((?:\\/|[^/])*)/[LU]?", rules):
        if re.fullmatch(pattern, subject):
            return re.sub(pattern, replacement.replace("$1", r"\1"), subject)
    assert rules.endswith(",DEFAULT"), rules
    return subject


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
    assert set(users) == {"admin", "pipeline", "tax-service", "key-issuer", "archive-guard"}
    assert tuple(users) == SERVICE_PRINCIPALS  # the principals `dsom security grant-services` grants
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


def test_key_issuer_may_manage_acls_and_nothing_else() -> None:
    users = {u["metadata"]["name"]: u for u in kafka_users(TopicSettings())}
    spec = users["key-issuer"]["spec"]
    assert spec["authentication"] == {"type": "tls"}
    assert spec["authorization"]["acls"] == strimzi_acls(key_issuer_grants())
    assert spec["authorization"]["acls"] == [
        {"resource": {"type": "cluster"}, "operations": ["Alter", "Describe"], "host": "*"}]


def test_the_listener_maps_operator_keys_to_the_principal_dsom_grants() -> None:
    listener = kafka(TopicSettings())[1]["spec"]["kafka"]["listeners"][0]
    config = listener["authentication"]["listenerConfig"]
    assert listener["authentication"]["type"] == "custom" and config["ssl.client.auth"] == "required"
    rules = config["ssl.principal.mapping.rules"]
    assert rules == principal_mapping_rules(PRINCIPAL_FORMAT)
    strimzi = KafkaSettings(principal_format=PRINCIPAL_FORMAT)
    key = "op.op-online-casino-1.k0a1b2c3d"
    # an access key signed by the operator-keys CA: the ACLs dsom granted it name User:CN=<key>
    assert "User:" + mapped(rules, f"CN={key},OU=dsom-operator-keys") == strimzi.principal(key)
    # a KafkaUser's certificate (CN=<name>, signed by the clients CA): as Strimzi's own ACLs name it
    for name in SERVICE_PRINCIPALS:
        assert "User:" + mapped(rules, f"CN={name}") == strimzi.principal(name) == f"User:CN={name}"
    # a certificate that merely claims the OU with another CN keeps its whole subject: no grant names it
    assert mapped(rules, "CN=pipeline,OU=dsom-operator-keys") == "CN=pipeline,OU=dsom-operator-keys"
    ca = listener["authentication"]["listenerConfig"]["ssl.truststore.location"]
    mounts = kafka(TopicSettings())[1]["spec"]["kafka"]["template"]["kafkaContainer"]["volumeMounts"]
    assert any(ca.startswith(m["mountPath"] + "/") for m in mounts)


def test_dsoms_own_brokers_map_subjects_by_the_same_rules() -> None:
    from infra.kafka_local import TLS_PROPERTIES  # noqa: PLC0415

    local = dict(line.split("=", 1) for line in TLS_PROPERTIES.splitlines() if "=" in line)
    rules = local["ssl.principal.mapping.rules"]
    assert rules == principal_mapping_rules()
    assert mapped(rules, "CN=op.op-1.k0a1b2c3d,OU=dsom-operator-keys") == "op.op-1.k0a1b2c3d"
    assert mapped(rules, "CN=key-issuer") == "key-issuer"


def test_the_dashboard_has_every_file_issuing_keys_needs_and_two_cas() -> None:
    from pipeline.settings import Settings  # noqa: PLC0415
    from pipeline.tools.k8s_manifests import CLUSTER, dashboard  # noqa: PLC0415
    from web.keys import desk_files  # noqa: PLC0415

    deployment, claim = dashboard(Settings())
    spec = deployment["spec"]["template"]["spec"]
    [container] = spec["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    # the settings the pod runs with, as pydantic reads them from its environment
    settings = Settings(pki_dir=Path(env["DSOM_PKI_DIR"]), bundle_ca=Path(env["DSOM_BUNDLE_CA"]),
                        kafka=KafkaSettings(ssl_ca_location=Path(env["DSOM_KAFKA__SSL_CA_LOCATION"])))
    volumes = {v["name"]: v for v in spec["volumes"]}

    def source(path: Path) -> tuple[str, str]:
        """The volume and the key in it that ``path`` is read from (the deepest mount wins)."""
        best = max((m for m in container["volumeMounts"]
                    if path == Path(m["mountPath"]) or Path(m["mountPath"]) in path.parents),
                   key=lambda m: len(m["mountPath"]))
        rest = m_sub if (m_sub := best.get("subPath")) else str(path.relative_to(best["mountPath"]))
        return best["name"], rest

    files = {str(p): source(p) for p in desk_files(settings)}
    assert files == {
        f"{settings.pki_dir}/operator-ca/ca.crt": ("operator-ca", "ca.crt"),
        f"{settings.pki_dir}/operator-ca/ca.key": ("operator-ca", "ca.key"),
        f"{settings.pki_dir}/key-issuer.crt": ("key-issuer", "user.crt"),
        f"{settings.pki_dir}/key-issuer.key": ("key-issuer", "user.key"),
        str(settings.broker_ca): ("cluster-ca", "ca.crt"),
        str(settings.bundle_ca_path): ("bundle-ca", "ca.crt"),
    }
    assert volumes["operator-ca"]["secret"]["secretName"] == "dsom-operator-ca"
    assert volumes["key-issuer"]["secret"]["secretName"] == "key-issuer"  # the KafkaUser's secret
    # the brokers' CA, not dsom's root (the clients CA, which signs no broker); the bundle's own mount
    assert volumes["cluster-ca"]["secret"]["secretName"] == volumes["bundle-ca"]["secret"]["secretName"] \
        == f"{CLUSTER}-cluster-ca-cert"
    assert settings.broker_ca != settings.bundle_ca_path
    # keys wait for their download on storage both replicas share; one session key for both
    assert volumes["cabinet-pki"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and deployment["spec"]["replicas"] == 2
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
               for e in container["env"] if "valueFrom" in e}
    assert secrets["DSOM_WEB__SESSION_KEY"] == "dsom-web"
    assert secrets["DSOM_REGISTRY__DSN"] == "dsom-registry-db"
