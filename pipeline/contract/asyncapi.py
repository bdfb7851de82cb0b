"""The operator contract as an AsyncAPI 3 document, generated from what dsom actually enforces.

:func:`document` is pure: the Avro schema files' JSON, their fingerprints and the settings in,
the document out. It is written from the operator's client's side (it sends ``EventBatch``,
receives ``ReceiptBatch``); dsom's other topics (the archive, tax-events, alerts) are listed as
channels without operations, so every published schema appears. What AsyncAPI has no field
for (the home-partition rule, size limits, reason codes in two languages, certificate files)
is carried in ``x-dsom-*`` extensions, which the specification allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.contract.reasons import reason_texts
from pipeline.core.limits import MAX_DETAIL_BYTES, OUTPUT_MESSAGE_BYTES
from pipeline.core.validation import MAX_TEXT
from pipeline.kafka.admin import ARCHIVE_CONFIG, OPERATOR_TOPIC_CONFIG, RECEIPTS_TOPIC_CONFIG
from pipeline.security.acls import operator_group
from pipeline.settings import Settings
from schemas.codec import AVRO_DIR, MAGIC, MESSAGE_SCHEMAS, load_type, schema_versions

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
AVRO_FORMAT = "application/vnd.apache.avro;version=1.9.0"
OP = "{operatorId}"  # the channel parameter in topic and group names
SOURCE_ID_PATTERN = "^[A-Za-z0-9._:-]{1,64}$"
COMPRESSION = ["none", "gzip", "snappy", "lz4", "zstd"]


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def inline(schema: Any, files: Mapping[str, Any], defined: set[str] | None = None) -> Any:
    """``schema`` with references to other files' named types replaced by their definitions.

    Avro defines a name once per schema and refers to it by name afterwards, so only the first
    reference is replaced; AsyncAPI tools need each message's schema to stand alone.
    """
    defined = set() if defined is None else defined
    if isinstance(schema, str):
        if schema in files and schema not in defined:
            return inline(files[schema], files, defined)
        return schema
    if isinstance(schema, list):
        return [inline(s, files, defined) for s in schema]
    if isinstance(schema, dict):
        if "name" in schema and schema.get("type") in ("record", "enum", "fixed"):
            name = schema["name"]
            defined.add(name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip("."))
        kept = ("name", "namespace", "doc", "symbols", "default")
        return {k: (v if k in kept else inline(v, files, defined)) for k, v in schema.items()}
    return schema


def fingerprint_forms(fp: bytes) -> dict[str, Any]:
    """A fingerprint as the wire carries it and as Java's ``parsingFingerprint64`` returns it."""
    return {"wireBytesHex": fp.hex(), "header": (MAGIC + fp).hex(),
            "javaParsingFingerprint64": f"0x{int.from_bytes(fp, 'little'):016x}",
            "javaParsingFingerprint64Decimal": int.from_bytes(fp, "little", signed=True)}


def topic_configuration(config: Mapping[str, str]) -> dict[str, Any]:
    """A topic's configuration (as given to Kafka, all strings) in the Kafka binding's types."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "cleanup.policy":
            out[key] = value.split(",")
        elif key in ("retention.ms", "retention.bytes", "max.message.bytes", "delete.retention.ms"):
            out[key] = int(value)
    return out


def _channel(address: str, title: str, description: str, messages: list[str], partitions: int,
             replicas: int, config: Mapping[str, str]) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": address, "title": title, "description": description,
        "messages": {_short(m): {"$ref": f"#/components/messages/{_short(m)}"} for m in messages},
        "bindings": {"kafka": {"partitions": partitions, "replicas": replicas,
                               "topicConfiguration": topic_configuration(config),
                               "bindingVersion": KAFKA_BINDING}},
    }
    if OP in address:
        channel["parameters"] = {"operatorId": {
            "description": "Your operator ID from the licence registry (1-64 characters of "
                           "A-Z a-z 0-9 _ -)."}}
    return channel


def document(settings: Settings, files: Mapping[str, Any], fingerprints: Mapping[str, bytes],
             older: Mapping[str, Sequence[tuple[int, bytes]]] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3 document of the operator contract.

    ``files``: each ``.avsc`` file's JSON by full name; ``fingerprints``: each message schema's
    CRC-64-AVRO fingerprint (wire order) by full name; ``older``: the (version, fingerprint) of
    each earlier version the codec still reads, by full name. A producer built against an
    earlier schema keeps working, so its fingerprint is part of the contract too.
    """
    older = older or {}
    t, v = settings.topics, settings.validation
    group = operator_group(t, OP)
    group_pattern = "^" + group.replace(".", r"\.").replace(OP, "[A-Za-z0-9_-]{1,64}") + r"(\..+)?$"
    reasons = reason_texts(v)
    messages: dict[str, Any] = {}
    for name in MESSAGE_SCHEMAS:
        short = _short(name)
        messages[short] = {
            "name": short, "title": short,
            "summary": files[name].get("doc", ""),
            "contentType": "application/octet-stream",
            "description": "Avro single-object encoding: the bytes C3 01, the 8-byte CRC-64-AVRO fingerprint "
                           "of the schema's Parsing Canonical Form (little-endian), then the Avro "
                           "binary body.",
            "payload": {"$ref": f"#/components/schemas/{short}"},
            "x-dsom-fingerprint": fingerprint_forms(fingerprints[name]),
            "x-dsom-older-fingerprints": [{"version": version, **fingerprint_forms(fp)}
                                          for version, fp in older.get(name, ())],
        }
    messages["EventBatch"]["bindings"] = {"kafka": {
        "key": {"type": "string", "pattern": SOURCE_ID_PATTERN,
                "description": "The batch's source_id, UTF-8; it also picks the home partition."},
        "bindingVersion": KAFKA_BINDING}}
    ingest_text = (f"Your events. Every record of a source goes to its home partition: "
                   f"(murmur2(source_id UTF-8) & 0x7fffffff) % {t.ingest_partitions}, Kafka's Java default "
                   "partitioner over the partition count the topic was created with (never its count "
                   "today); a record elsewhere is rejected whole (wrong_partition).")
    receipts_text = ("One ReceiptBatch per ingest record that decided an event. Read it with "
                     f"isolation.level=read_committed, in the group {group} or {group}.<name>.")
    rf = t.replication_factor
    channels = {
        "ingest": _channel(t.ingest(OP), "Ingest", ingest_text, ["ua.dsom.v1.EventBatch"],
                           t.ingest_partitions, rf, OPERATOR_TOPIC_CONFIG),
        "receipts": _channel(t.receipts(OP), "Receipts", receipts_text, ["ua.dsom.v1.ReceiptBatch"], 1, rf,
                             RECEIPTS_TOPIC_CONFIG),
        "sandboxIngest": _channel(t.sandbox(OP), "Sandbox ingest",
                                  "The same as ingest, with a sandbox key: validated and receipted, never "
                                  "counted. One partition, so every source's home is 0.",
                                  ["ua.dsom.v1.EventBatch"], 1, rf, OPERATOR_TOPIC_CONFIG),
        "sandboxReceipts": _channel(t.sandbox_receipts(OP), "Sandbox receipts",
                                    "Receipts for the sandbox, read as receipts are.",
                                    ["ua.dsom.v1.ReceiptBatch"], 1, rf, RECEIPTS_TOPIC_CONFIG),
        "archive": _channel(t.archive, "Archive",
                            "The immutable archive of accepted events, hash-chained; written by dsom only, "
                            "readable by auditors, not by operators.", ["ua.dsom.v1.ArchiveBatch"],
                            t.archive_partitions, rf, ARCHIVE_CONFIG),
        "taxEvents": _channel(t.tax_events, "Tax events",
                              "The State Tax Service's feed, written in Kafka transactions: read it "
                              f"read_committed in a group starting with {t.tax_service_group}.",
                              ["ua.dsom.v1.PayoutTaxBatch", "ua.dsom.v1.TaxDiscrepancy",
                               "ua.dsom.v1.GgrStatement"], t.archive_partitions, rf, ARCHIVE_CONFIG),
        "alerts": _channel(f"{t.prefix}.alerts", "Alerts",
                           "Supervision alerts (opened, updated, resolved) of the alerts agent "
                           "(docs/alerts.md), written in Kafka transactions: read them read_committed. "
                           "For the regulator; not readable by operators' keys.", ["ua.dsom.v1.Alert"],
                           t.archive_partitions, rf, ARCHIVE_CONFIG),
    }
    operations = {
        "sendEventBatch": {
            "action": "send", "channel": {"$ref": "#/channels/ingest"},
            "title": "Send a batch of events",
            "description": "Key = source_id, partition = the source's home, enable.idempotence=true, "
                           "acks=all.",
            "messages": [{"$ref": "#/channels/ingest/messages/EventBatch"}],
        },
        "receiveReceiptBatch": {
            "action": "receive", "channel": {"$ref": "#/channels/receipts"},
            "title": "Receive receipts",
            "description": "isolation.level=read_committed. Reconcile by (source_id, seq): a re-sent event "
                           "already decided gets a DUPLICATE receipt naming the first (which stands).",
            "messages": [{"$ref": "#/channels/receipts/messages/ReceiptBatch"}],
            "bindings": {"kafka": {"groupId": {"type": "string", "pattern": group_pattern},
                                   "bindingVersion": KAFKA_BINDING}},
        },
        "sendSandboxEventBatch": {
            "action": "send", "channel": {"$ref": "#/channels/sandboxIngest"},
            "messages": [{"$ref": "#/channels/sandboxIngest/messages/EventBatch"}],
        },
        "receiveSandboxReceiptBatch": {
            "action": "receive", "channel": {"$ref": "#/channels/sandboxReceipts"},
            "messages": [{"$ref": "#/channels/sandboxReceipts/messages/ReceiptBatch"}],
            "bindings": {"kafka": {"groupId": {"type": "string", "pattern": group_pattern},
                                   "bindingVersion": KAFKA_BINDING}},
        },
    }
    servers = {
        f"broker{i}": {
            "host": host.strip(), "protocol": "kafka-secure",
            "description": "Mutual TLS only: present your access key's certificate, trust only the CA "
                           "certificate, verify the broker's host name.",
            "security": [{"$ref": "#/components/securitySchemes/mutualTls"}],
        }
        for i, host in enumerate(settings.kafka.bootstrap_servers.split(","), 1)
    }
    schemas = {_short(name): {"schemaFormat": AVRO_FORMAT, "schema": inline(schema, files)}
               for name, schema in files.items()}
    schemas["ReasonCode"] = {
        "type": "string",
        "description": "The reason of a REJECTED receipt. Record reasons reject the whole record (fix it "
                       "and send it again with the same seqs); event reasons reject one event (a "
                       "corrected event needs a new seq).",
        "oneOf": [{"const": code.value, "description": text.en, "x-description-uk": text.uk,
                   "x-scope": text.scope} for code, text in reasons.items()],
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "dsom operator contract",
            "version": "1",
            "description": "How a licensed operator streams its operations to dsom and reads a receipt for "
                           "each, from any language. Written from the operator's client's side. Guide: "
                           "docs/integration.md; validation rules: schemas/README.md.",
        },
        "defaultContentType": "application/octet-stream",
        "servers": servers,
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {"mutualTls": {
                "type": "X509",
                "description": "An access key is a client certificate (CN=op.<operator>.<key id>) signed by "
                               "the "
                               "deployment's CA, with ACLs to write the operator's ingest topic and read its "
                               "receipts; issued with `dsom keys issue`.",
                "x-dsom-certificate-files": _certificate_files(),
            }},
        },
        "x-dsom-partitioning": {
            "partitioner": "murmur2",
            "homePartition": f"(murmur2(source_id UTF-8) & 0x7fffffff) % {t.ingest_partitions}",
            "murmur2Seed": "0x9747b28c",
            "ingestPartitions": t.ingest_partitions,
            "sandboxPartitions": 1,
            "note": "The count the topic was created with: a source's home never moves, even if partitions "
                    "are added. librdkafka's default partitioner (CRC32) differs: set "
                    "partitioner=murmur2_random, or name the partition.",
        },
        "x-dsom-limits": {
            "maxRecordBytes": v.max_record_bytes,
            "recordBytesCountedBeforeCompression": True,
            "maxEventsPerRecord": v.max_events_per_batch,
            "compression": COMPRESSION,
            "maxTextFieldChars": MAX_TEXT,
            "maxDetailBytes": MAX_DETAIL_BYTES,
            "maxReceiptMessageBytes": OUTPUT_MESSAGE_BYTES,
            "lateWindowUs": v.late_window_us,
            "futureSkewUs": v.future_skew_us,
            "betHorizonUs": v.bet_horizon_us,
            "maxAmountKopecks": v.max_amount_kopecks,
            "currency": v.currency,
        },
        "x-dsom-consumer": {
            "isolationLevel": "read_committed",
            "groupId": group, "groupIdPattern": group_pattern,
            "reconcileBy": ["source_id", "seq"],
            "receiptStatus": "A string: ACCEPTED or REJECTED; a later version adds DUPLICATE (already "
                             "received, naming the first receipt). Treat unknown statuses as an error.",
        },
    }


def _certificate_files() -> list[dict[str, str]]:
    return [
        {"file": "<key>.crt", "format": "PEM, X.509 v3, EC P-256, SHA-256", "for": "librdkafka, Go, .NET"},
        {"file": "<key>.key", "format": "PEM, PKCS#8 private key, unencrypted, mode 0600",
         "for": "librdkafka, Go, .NET"},
        {"file": "<key>.pem", "format": "PEM, private key then certificate",
         "for": "Java kafka-clients 2.7+, ssl.keystore.type=PEM"},
        {"file": "ca.crt", "format": "PEM, the deployment's CA certificate",
         "for": "every client's trust store"},
        {"file": "<key>.p12", "format": "PKCS12 keystore: key, certificate, CA; PBES2 AES-256-CBC, "
                                        "HMAC-SHA256; password handed over once",
         "for": "Java ssl.keystore.type=PKCS12, .NET"},
        {"file": "<key>.truststore.p12", "format": "PKCS12 truststore: the CA as a Java trusted entry, "
                                                   "same password",
         "for": "Java ssl.truststore.type=PKCS12"},
    ]


def avro_files(folder: Path = AVRO_DIR) -> dict[str, Any]:
    """Each ``.avsc`` file's JSON, by the full name its file is named after."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.avsc"))}


def build(settings: Settings) -> dict[str, Any]:
    """The document for ``settings``, from the schema files on disk."""
    return document(settings, avro_files(), {name: load_type(name).fingerprint for name in MESSAGE_SCHEMAS},
                    {name: [(t.version, t.fingerprint) for t in schema_versions(name)[:-1]]
                     for name in MESSAGE_SCHEMAS})


@cache
def published() -> dict[str, Any]:
    """The document of this process's settings (from the environment, as the worker's are)."""
    return build(Settings())
