# ruff: noqa: E501 - manifest data reads best one resource field per line
"""Kubernetes manifests for dsom, generated from the same definitions the code runs on.

``python -m pipeline.tools.k8s_manifests [OUT]`` (default ``infra/k8s``) writes:

- ``kafka.yaml``: a Strimzi ``Kafka`` in KRaft mode (one node pool of three combined nodes),
  mutual TLS, ``simple`` authorization, replication factor 3, ``min.insync.replicas`` 2, unclean
  leader election off; dsom's own CA as Strimzi's clients CA, so operators' access keys issued by
  ``dsom keys issue`` are trusted;
- ``kafka-users.yaml``: a ``KafkaUser`` per service principal (``key-issuer``, what the cabinets
  issue operators' keys as, included), its ACLs converted from ``bootstrap.service_grants``, what
  ``dsom security grant-services`` grants (the agent registry gives the pipeline's transactional IDs);
- ``kafka-topics.yaml``: a ``KafkaTopic`` per system topic the declared agents need
  (``app.new_topics``); per-operator topics are created by dsom when operators are registered;
- ``clickhouse.yaml``: a ``ClickHouseInstallation`` (Altinity operator) of 2 shards x 2 replicas
  with a ClickHouse Keeper of 3, and a ConfigMap + Job applying :mod:`sinks.clickhouse.cluster_ddl`;
- ``dsom.yaml``: the workers as a ``StatefulSet`` (the pod name is the stable worker ID that names
  the Kafka transactional IDs), the web dashboard, a ``PodMonitor`` and ``PrometheusRule``; the
  archive guard as a ``Deployment`` of one with the ``archive-guard`` user's certificate.

No YAML library: :func:`to_yaml` writes the small subset these manifests use.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.security.acls import Grant
from pipeline.security.bootstrap import service_grants
from pipeline.security.pki import principal_mapping_rules
from pipeline.settings import REPO_ROOT, Settings, TopicSettings

CLUSTER = "dsom"
NAMESPACE = "dsom"
IMAGE = "ghcr.io/dsom/dsom:latest"  # built from the repository; see docs/operations.md
KAFKA_VERSION = "4.1.0"
# Strimzi's KafkaUsers' ACLs name the certificate's subject, User:CN=<name>: dsom's grants do the same.
PRINCIPAL_FORMAT = "CN={name}"
CLIENTS_CA_MOUNT = "/mnt/dsom-clients-ca"  # Strimzi mounts additional volumes under /mnt only
STRIMZI_OPERATIONS = {"READ": "Read", "WRITE": "Write", "CREATE": "Create", "DELETE": "Delete",
                      "ALTER": "Alter", "DESCRIBE": "Describe", "ALTER_CONFIGS": "AlterConfigs",
                      "DESCRIBE_CONFIGS": "DescribeConfigs", "CLUSTER_ACTION": "ClusterAction",
                      "IDEMPOTENT_WRITE": "IdempotentWrite"}
STRIMZI_RESOURCES = {"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactionalId",
                     "BROKER": "cluster"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text and re.fullmatch(r"[A-Za-z0-9_./-]+", text) and text not in ("true", "false", "null", "yes", "no") \
            and not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists and scalars (multi-line strings as literal blocks)."""
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            if isinstance(item, str) and "\n" in item:
                body = "\n".join(f"{pad}  {line}" if line else "" for line in item.rstrip("\n").split("\n"))
                lines.append(f"{pad}{_scalar(key)}: |\n{body}")
            elif isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}{_scalar(key)}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{_scalar(key)}: {to_yaml(item) if isinstance(item, Mapping | list) else _scalar(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        lines = []
        for item in value:
            if isinstance(item, Mapping | list) and item:
                nested = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {nested[indent + 2:]}")
            else:
                lines.append(f"{pad}- {to_yaml(item) if isinstance(item, Mapping | list) else _scalar(item)}")
        return "\n".join(lines)
    return _scalar(value)


def documents(docs: Iterable[Mapping[str, Any]]) -> str:
    return "".join(f"---\n{to_yaml(doc)}\n" for doc in docs)


def strimzi_acls(grants: Iterable[Grant]) -> list[dict[str, Any]]:
    """Dsom's grants as Strimzi ``simple`` ACL rules, one per resource with all its operations."""
    rules: dict[tuple[str, str, str], list[str]] = {}
    for g in grants:
        rules.setdefault((g.resource, g.name, g.pattern), []).append(STRIMZI_OPERATIONS[g.operation])
    out = []
    for (resource, name, pattern), operations in rules.items():
        res: dict[str, Any] = {"type": STRIMZI_RESOURCES[resource]}
        if resource != "BROKER":
            res["name"] = name
            res["patternType"] = "prefix" if pattern == "PREFIXED" else "literal"
        out.append({"resource": res, "operations": sorted(set(operations)), "host": "*"})
    return out


def _meta(name: str, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if labels:
        meta["labels"] = dict(labels)
    return meta


def kafka(topics: TopicSettings) -> list[dict[str, Any]]:
    rf = topics.replication_factor
    min_isr = topics.min_insync_replicas or max(1, rf - 1)
    pool = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaNodePool",
            "metadata": _meta("combined", **{"strimzi.io/cluster": CLUSTER}),
            "spec": {"replicas": 3, "roles": ["controller", "broker"],
                     "storage": {"type": "jbod", "volumes": [
                         {"id": 0, "type": "persistent-claim", "size": "500Gi", "deleteClaim": False,
                          "kraftMetadata": "shared"}]}}}
    cluster = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "Kafka",
               "metadata": {**_meta(CLUSTER), "annotations": {"strimzi.io/node-pools": "enabled",
                                                              "strimzi.io/kraft": "enabled"}},
               "spec": {
                   "kafka": {
                       "version": KAFKA_VERSION,
                       # mTLS as Strimzi's `type: tls` does it, but with dsom's principal mapping
                       # rules (`type: custom` may set them since Strimzi 0.46): an operator's key,
                       # CN=op.<operator>.<key>,OU=dsom-operator-keys, becomes User:CN=op.<operator>.<key>,
                       # the principal dsom grants its ACLs to (DSOM_KAFKA__PRINCIPAL_FORMAT=CN={name}).
                       "listeners": [{"name": "tls", "port": 9093, "type": "internal", "tls": True,
                                      "authentication": {"type": "custom", "sasl": False, "listenerConfig": {
                                          "ssl.client.auth": "required",
                                          "ssl.truststore.type": "PEM",
                                          "ssl.truststore.location": f"{CLIENTS_CA_MOUNT}/ca.crt",
                                          "ssl.principal.mapping.rules": principal_mapping_rules(PRINCIPAL_FORMAT),
                                      }}}],
                       # the clients CA (dsom's root) the listener trusts: Strimzi mounts it only for `type: tls`
                       "template": {"pod": {"volumes": [{"name": "dsom-clients-ca",
                                                         "secret": {"secretName": f"{CLUSTER}-clients-ca-cert"}}]},
                                    "kafkaContainer": {"volumeMounts": [{"name": "dsom-clients-ca",
                                                                          "mountPath": CLIENTS_CA_MOUNT}]}},
                       "authorization": {"type": "simple"},
                       "config": {
                           "auto.create.topics.enable": False,
                           "default.replication.factor": rf, "min.insync.replicas": min_isr,
                           "offsets.topic.replication.factor": rf,
                           "transaction.state.log.replication.factor": rf,
                           "transaction.state.log.min.isr": min_isr,
                           "unclean.leader.election.enable": False,
                           # A dead producer's open transaction blocks read_committed readers until it times out.
                           "transaction.max.timeout.ms": 120000,
                       },
                   },
                   # dsom's CA (`dsom security init`) signs the services' and operators' certificates:
                   # put it in the secrets dsom-clients-ca-cert / dsom-clients-ca before applying.
                   "clientsCa": {"generateCertificateAuthority": False},
                   "entityOperator": {"topicOperator": {}, "userOperator": {}},
               }}
    return [pool, cluster]


def kafka_users(topics: TopicSettings) -> list[dict[str, Any]]:
    """A KafkaUser per service principal (``bootstrap.SERVICE_PRINCIPALS``), as ``dsom security grant-services`` grants them."""
    users = service_grants(topics)
    return [{"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaUser",
             "metadata": _meta(name, **{"strimzi.io/cluster": CLUSTER}),
             "spec": {"authentication": {"type": "tls"},
                      "authorization": {"type": "simple", "acls": strimzi_acls(grants)}}}
            for name, grants in users.items()]


def kafka_topics(settings: Settings) -> list[dict[str, Any]]:
    from pipeline.agents.app import app  # noqa: PLC0415

    out = []
    for topic in app.new_topics(settings):
        config = {k: (int(v) if re.fullmatch(r"-?\d+", v) else v) for k, v in (topic.config or {}).items()}
        if settings.topics.min_insync_replicas:
            config.setdefault("min.insync.replicas", settings.topics.min_insync_replicas)
        out.append({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
                    "metadata": _meta(re.sub(r"[^a-z0-9-]", "-", topic.topic.lower()),
                                      **{"strimzi.io/cluster": CLUSTER}),
                    "spec": {"topicName": topic.topic, "partitions": topic.num_partitions,
                             "replicas": topic.replication_factor, "config": config}})
    return out


def clickhouse(database: str) -> list[dict[str, Any]]:
    from sinks.clickhouse.cluster_ddl import cluster_ddl  # noqa: PLC0415

    ddl = ";\n\n".join(cluster_ddl(database)) + ";\n"
    keeper = {"apiVersion": "clickhouse-keeper.altinity.com/v1", "kind": "ClickHouseKeeperInstallation",
              "metadata": _meta("dsom-keeper"),
              "spec": {"configuration": {"clusters": [{"name": "keeper", "layout": {"replicasCount": 3}}]}}}
    chi = {"apiVersion": "clickhouse.altinity.com/v1", "kind": "ClickHouseInstallation",
           "metadata": _meta("dsom"),
           "spec": {"configuration": {
               "zookeeper": {"nodes": [{"host": "keeper-dsom-keeper", "port": 2181}]},
               "users": {"dsom/networks/ip": ["10.0.0.0/8"], "dsom/profile": "default",
                         "dsom/password_sha256_hex": {"valueFrom": {"secretKeyRef": {
                             "name": "dsom-clickhouse", "key": "password_sha256_hex"}}}},
               "clusters": [{"name": "dsom", "layout": {"shardsCount": 2, "replicasCount": 2}}]}}}
    schema = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("dsom-clickhouse-schema"),
              "data": {"schema.sql": ddl}}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta("dsom-clickhouse-schema"),
           "spec": {"backoffLimit": 10, "template": {"spec": {
               "restartPolicy": "OnFailure",
               "containers": [{"name": "schema", "image": "clickhouse/clickhouse-server:25.8",
                               "command": ["clickhouse-client", "--host", "clickhouse-dsom", "--user", "dsom",
                                           "--password", "$(DSOM_CLICKHOUSE_PASSWORD)", "--multiquery",
                                           "--queries-file", "/schema/schema.sql"],
                               "env": [{"name": "DSOM_CLICKHOUSE_PASSWORD", "valueFrom": {"secretKeyRef": {
                                   "name": "dsom-clickhouse", "key": "password"}}}],
                               "volumeMounts": [{"name": "schema", "mountPath": "/schema"}]}],
               "volumes": [{"name": "schema", "configMap": {"name": "dsom-clickhouse-schema"}}]}}}}
    return [keeper, chi, schema, job]


def _dsom_env(settings: Settings) -> list[dict[str, Any]]:
    t = settings.topics
    return [
        {"name": "DSOM_WORKER_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "DSOM_KAFKA__BOOTSTRAP_SERVERS", "value": f"{CLUSTER}-kafka-bootstrap:9093"},
        {"name": "DSOM_KAFKA__SECURITY_PROTOCOL", "value": "SSL"},
        {"name": "DSOM_KAFKA__SSL_CA_LOCATION", "value": "/etc/dsom/cluster-ca/ca.crt"},
        {"name": "DSOM_KAFKA__SSL_CERTIFICATE_LOCATION", "value": "/etc/dsom/user/user.crt"},
        {"name": "DSOM_KAFKA__SSL_KEY_LOCATION", "value": "/etc/dsom/user/user.key"},
        # Strimzi names a certificate's principal by its subject: ACLs dsom grants (operators'
        # access keys) must name User:CN=<operator>, as the KafkaUsers' do.
        {"name": "DSOM_KAFKA__PRINCIPAL_FORMAT", "value": PRINCIPAL_FORMAT},
        {"name": "DSOM_TOPICS__PREFIX", "value": t.prefix},
        {"name": "DSOM_TOPICS__REPLICATION_FACTOR", "value": str(t.replication_factor)},
        {"name": "DSOM_TOPICS__MIN_INSYNC_REPLICAS", "value": str(t.min_insync_replicas or 2)},
        {"name": "DSOM_CLICKHOUSE__DSN", "valueFrom": {"secretKeyRef": {"name": "dsom-clickhouse", "key": "dsn"}}},
        {"name": "DSOM_REGISTRY_PATH", "value": "/etc/dsom/registry/registry.json"},
        {"name": "DSOM_METRICS_HOST", "value": "0.0.0.0"},
        {"name": "DSOM_DASHBOARD_PORT", "value": "0"},
    ]


def _volumes(user: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    mounts = [{"name": "user", "mountPath": "/etc/dsom/user", "readOnly": True},
              {"name": "cluster-ca", "mountPath": "/etc/dsom/cluster-ca", "readOnly": True},
              {"name": "registry", "mountPath": "/etc/dsom/registry", "readOnly": True}]
    volumes = [{"name": "user", "secret": {"secretName": user}},
               {"name": "cluster-ca", "secret": {"secretName": f"{CLUSTER}-cluster-ca-cert"}},
               {"name": "registry", "configMap": {"name": "dsom-registry"}}]
    return mounts, volumes


def workloads(settings: Settings, workers: int = 3) -> list[dict[str, Any]]:
    mounts, volumes = _volumes("pipeline")
    labels = {"app.kubernetes.io/name": "dsom-worker"}
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta("dsom-worker", **labels),
        "spec": {
            "serviceName": "dsom-worker", "replicas": workers, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                # SIGTERM lets the agents commit or abort and leave their groups (pipeline/worker.py)
                "terminationGracePeriodSeconds": 120,
                "containers": [{
                    "name": "worker", "image": IMAGE, "args": ["worker"], "env": _dsom_env(settings),
                    "ports": [{"name": "metrics", "containerPort": settings.metrics_port}],
                    "readinessProbe": {"httpGet": {"path": "/metrics", "port": "metrics"}},
                    "resources": {"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
                    "volumeMounts": mounts}],
                "volumes": volumes}}}}
    web, web_storage = dashboard(settings)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": _meta("dsom-dashboard"),
               "spec": {"selector": web["spec"]["selector"]["matchLabels"], "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": _meta("dsom-worker"),
               "spec": {"selector": {"matchLabels": labels}, "podMetricsEndpoints": [{"port": "metrics"}]}}
    rules = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": _meta("dsom"),
             "spec": {"groups": [{"name": "dsom", "rules": [
                 {"alert": "DsomConsumerLagHigh", "expr": "max by (group) (dsom_consumer_lag_records) > 500000",
                  "for": "10m", "labels": {"severity": "warning"},
                  "annotations": {"summary": "{{ $labels.group }} is over 500k records behind for 10 minutes"}},
                 {"alert": "DsomAgentRestarting", "expr": "increase(dsom_agent_restarts_total[15m]) > 3",
                  "labels": {"severity": "warning"},
                  "annotations": {"summary": "an agent restarted more than 3 times in 15 minutes"}},
                 {"alert": "DsomAgentStalled", "expr": "increase(dsom_agent_stalls_total[1h]) > 0",
                  "labels": {"severity": "warning"},
                  "annotations": {"summary": "{{ $labels.agent }} stopped receiving records that were waiting "
                                             "and was restarted (docs/operations.md, \"A worker that stops "
                                             "making progress\")"}},
                 {"alert": "DsomDeadLetters", "expr": "increase(dsom_dead_letters_total[1h]) > 0",
                  "labels": {"severity": "warning"},
                  "annotations": {"summary": "records were set aside as unprocessable"}},
                 {"alert": "DsomSinkErrors", "expr": "increase(dsom_sink_errors_total[10m]) > 10",
                  "labels": {"severity": "critical"},
                  "annotations": {"summary": "ClickHouse inserts keep failing"}},
                 {"alert": "DsomWorkerDown", "expr": f"count(up{{job=~\".*dsom-worker.*\"}} == 1) < {workers}",
                  "for": "5m", "labels": {"severity": "critical"},
                  "annotations": {"summary": "fewer dsom workers are up than the StatefulSet wants"}},
             ]}]}}
    return [statefulset, web, web_storage, service, monitor, rules, *archive_guard(settings)]


CABINET_PKI = "/var/lib/dsom/pki"
BUNDLE_CA_MOUNT = "/etc/dsom/bundle-ca"


def dashboard(settings: Settings) -> list[dict[str, Any]]:
    """The cabinets' Deployment, able to issue operators' access keys, and the volume it keeps them on.

    Issuing a key (``web.keys.desk_from_settings``) takes, in ``DSOM_PKI_DIR``'s layout: the
    operator-keys CA (secret ``dsom-operator-ca``, from ``dsom security init``'s
    ``<pki_dir>/operator-ca/``) and the ``key-issuer`` KafkaUser's certificate; the CA the cabinet
    verifies the brokers with, Strimzi's cluster CA (``DSOM_KAFKA__SSL_CA_LOCATION``); and the CA
    handed to operators in the bundle (``DSOM_BUNDLE_CA``): the CA of the listener their clients
    connect to, by default the same cluster CA, from its own mount so that another listener's CA
    replaces it alone. dsom's root is the clients CA here and signs no broker: one file could not
    serve both. A key's files wait for their one download in ``<pki_dir>/operators``, shared by the
    replicas (a ReadWriteMany claim), as is the session key (secret ``dsom-web``): a key issued
    through one replica is downloaded through another.
    """
    mounts, volumes = _volumes("pipeline")
    labels = {"app.kubernetes.io/name": "dsom-dashboard"}
    env = _dsom_env(settings)[1:] + [
        {"name": "DSOM_PKI_DIR", "value": CABINET_PKI},
        {"name": "DSOM_BUNDLE_CA", "value": f"{BUNDLE_CA_MOUNT}/ca.crt"},
        {"name": "DSOM_WEB__SESSION_KEY", "valueFrom": {"secretKeyRef": {"name": "dsom-web", "key": "session-key"}}},
        {"name": "DSOM_REGISTRY__DSN", "valueFrom": {"secretKeyRef": {"name": "dsom-registry-db", "key": "dsn"}}},
    ]
    principal = settings.web.keys_principal
    mounts = mounts + [
        {"name": "cabinet-pki", "mountPath": CABINET_PKI},
        {"name": "operator-ca", "mountPath": f"{CABINET_PKI}/operator-ca", "readOnly": True},
        {"name": "key-issuer", "mountPath": f"{CABINET_PKI}/{principal}.crt", "subPath": "user.crt", "readOnly": True},
        {"name": "key-issuer", "mountPath": f"{CABINET_PKI}/{principal}.key", "subPath": "user.key", "readOnly": True},
        {"name": "bundle-ca", "mountPath": BUNDLE_CA_MOUNT, "readOnly": True},
    ]
    volumes = volumes + [
        {"name": "cabinet-pki", "persistentVolumeClaim": {"claimName": "dsom-cabinet-pki"}},
        {"name": "operator-ca", "secret": {"secretName": "dsom-operator-ca", "defaultMode": 0o400}},
        {"name": "key-issuer", "secret": {"secretName": principal, "defaultMode": 0o400}},
        {"name": "bundle-ca", "secret": {"secretName": f"{CLUSTER}-cluster-ca-cert",
                                         "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    ]
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("dsom-dashboard", **labels),
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                     "name": "dashboard", "image": IMAGE,
                     "args": ["dashboard", "--host", "0.0.0.0", "--port", "8050"],
                     "env": env, "ports": [{"name": "http", "containerPort": 8050}],
                     "volumeMounts": mounts}], "volumes": volumes}}}}
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta("dsom-cabinet-pki"),
             "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}}
    return [deployment, claim]


def archive_guard(settings: Settings) -> list[dict[str, Any]]:
    """``dsom archive-guard`` as a Deployment of one, with the ``archive-guard`` KafkaUser's certificate.

    One replica: two guards would both record each change and raise each alert. Its certificate,
    the user secret Strimzi makes, is mounted where ``Settings.kafka_as("archive-guard")`` reads it
    (``<pki_dir>/archive-guard.crt``, ``.key`` and ``ca.crt``), so the guard connects as that
    principal (describe ACLs and the two topics' settings, write alerts) and nothing else; the
    audit log is the registry's database (the secret ``dsom-registry-db``, key ``dsn``). Its own
    PodMonitor, and a PrometheusRule for a guard that stopped looking.
    """
    labels = {"app.kubernetes.io/name": "dsom-archive-guard"}
    pki = "/etc/dsom/pki"
    # The workers' settings it needs (not ClickHouse's: it reads no data), and its own.
    wanted = ("DSOM_KAFKA__BOOTSTRAP_SERVERS", "DSOM_KAFKA__SECURITY_PROTOCOL", "DSOM_KAFKA__PRINCIPAL_FORMAT",
              "DSOM_TOPICS__PREFIX", "DSOM_METRICS_HOST")
    env = [e for e in _dsom_env(settings) if e["name"] in wanted]
    env += [{"name": "DSOM_PKI_DIR", "value": pki},
            {"name": "DSOM_REGISTRY__DSN", "valueFrom": {"secretKeyRef": {"name": "dsom-registry-db", "key": "dsn"}}}]
    port = settings.archive.guard_metrics_port
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("dsom-archive-guard", **labels),
        "spec": {
            "replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{
                    "name": "archive-guard", "image": IMAGE, "args": ["archive-guard"], "env": env,
                    "ports": [{"name": "metrics", "containerPort": port}],
                    "readinessProbe": {"httpGet": {"path": "/metrics", "port": "metrics"}},
                    "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                    "volumeMounts": [{"name": "pki", "mountPath": pki, "readOnly": True}]}],
                "volumes": [{"name": "pki", "projected": {"sources": [
                    {"secret": {"name": "archive-guard", "items": [
                        {"key": "user.crt", "path": "archive-guard.crt"},
                        {"key": "user.key", "path": "archive-guard.key"}]}},
                    {"secret": {"name": f"{CLUSTER}-cluster-ca-cert", "items": [
                        {"key": "ca.crt", "path": "ca.crt"}]}}]}}]}}}}
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
               "metadata": _meta("dsom-archive-guard"),
               "spec": {"selector": {"matchLabels": labels}, "podMetricsEndpoints": [{"port": "metrics"}]}}
    stale = 10 * settings.archive.guard_interval_s
    rules = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
             "metadata": _meta("dsom-archive-guard"),
             "spec": {"groups": [{"name": "dsom-archive-guard", "rules": [
                 {"alert": "DsomArchiveGuardBlind",
                  "expr": f"time() - max(dsom_archive_guard_last_look_timestamp_seconds) > {stale:g} "
                          "or absent(dsom_archive_guard_last_look_timestamp_seconds)",
                  "for": "5m", "labels": {"severity": "critical"},
                  "annotations": {"summary": "dsom archive-guard has stopped looking at who may change the "
                                             "archive (stopped, or its ACLs revoked)"}},
                 {"alert": "DsomArchiveGuardFinding", "expr": "max(dsom_archive_guard_findings) > 0",
                  "labels": {"severity": "critical"},
                  "annotations": {"summary": "someone other than the pipeline may change or erase the "
                                             "archive (see the audit log and the alerts inbox)"}},
             ]}]}}
    return [deployment, monitor, rules]


def write(out: Path) -> list[Path]:
    base = Settings()
    settings = base.model_copy(update={"topics": base.topics.model_copy(update={
        "replication_factor": 3, "min_insync_replicas": 2})})
    files = {
        "kafka.yaml": kafka(settings.topics),
        "kafka-users.yaml": kafka_users(settings.topics),
        "kafka-topics.yaml": kafka_topics(settings),
        "clickhouse.yaml": clickhouse(settings.clickhouse.database),
        "dsom.yaml": workloads(settings),
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    header = "# Generated by `python -m pipeline.tools.k8s_manifests`: do not edit by hand.\n"
    for name, docs in files.items():
        path = out / name
        path.write_text(header + documents(docs))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "infra" / "k8s"):
        print(p)
