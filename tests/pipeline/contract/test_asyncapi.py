import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pipeline.contract.asyncapi import avro_files, build, document, inline
from pipeline.contract.reasons import reason_texts
from pipeline.core.model import Reason
from pipeline.settings import Settings, ValidationSettings
from schemas.codec import (
    AVRO_DIR,
    MAGIC,
    MESSAGE_SCHEMAS,
    Codec,
    UnknownSchemaError,
    load_type,
    schema_versions,
)

OFFICIAL = Path(__file__).parent / "asyncapi-3.0.0.schema.json"
SETTINGS = Settings(kafka={"bootstrap_servers": "kafka1.dsom.gov.ua:9093,kafka2.dsom.gov.ua:9093"},
                    topics={"ingest_partitions": 6})


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document(SETTINGS, avro_files(), {n: load_type(n).fingerprint for n in MESSAGE_SCHEMAS})


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} does not resolve (no {part!r})"
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_the_document_is_valid_asyncapi_3(doc: dict[str, Any]) -> None:
    official = json.loads(OFFICIAL.read_text())
    jsonschema.Draft7Validator(official).validate(doc)
    assert doc["asyncapi"].startswith("3.")


def test_the_official_schema_catches_a_broken_document(doc: dict[str, Any]) -> None:
    broken = {**doc, "operations": {"x": {"action": "publish", "channel": {"$ref": "#/channels/ingest"}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(json.loads(OFFICIAL.read_text())).validate(broken)


def test_channels_operations_and_messages_refer_to_each_other(doc: dict[str, Any]) -> None:
    for ref in refs(doc):
        resolve(doc, ref)
    for name, op in doc["operations"].items():
        channel = resolve(doc, op["channel"]["$ref"])
        for message in op["messages"]:
            prefix = op["channel"]["$ref"] + "/messages/"
            assert message["$ref"].startswith(prefix), (name, message)  # a message of its own channel
            assert resolve(doc, message["$ref"]) in channel["messages"].values()
    used = {r.rsplit("/", 1)[1] for c in doc["channels"].values() for r in refs(c["messages"])}
    assert used == set(doc["components"]["messages"])


def test_every_schema_file_and_fingerprint_is_published(doc: dict[str, Any]) -> None:
    files = {p.stem.rsplit(".", 1)[1] for p in AVRO_DIR.glob("*.avsc")}
    assert files <= set(doc["components"]["schemas"])
    batch = doc["components"]["messages"]["EventBatch"]
    assert batch["x-dsom-fingerprint"]["wireBytesHex"] == load_type("ua.dsom.v1.EventBatch").fingerprint.hex()
    assert batch["x-dsom-fingerprint"]["javaParsingFingerprint64"] == "0x2f4a197f10646499"  # version 2
    # Each message's Avro schema stands alone: the Event record is defined inside EventBatch.
    events = doc["components"]["schemas"]["EventBatch"]["schema"]["fields"][3]["type"]["items"]
    assert events["name"] == "Event" and events["type"] == "record"


def test_the_older_versions_still_read_are_published_with_their_fingerprints() -> None:
    # A producer built against EventBatch version 1 keeps working (the codec resolves it), so
    # the contract lists that fingerprint too, not only the current one.
    messages = build(SETTINGS)["components"]["messages"]
    older = messages["EventBatch"]["x-dsom-older-fingerprints"]
    assert [o["version"] for o in older] == [t.version for t in schema_versions("ua.dsom.v1.EventBatch")[:-1]]
    assert older[0] == {"version": 1, "wireBytesHex": "df21741809057402", "header": "c301df21741809057402",
                        "javaParsingFingerprint64": "0x02740509187421df",
                        "javaParsingFingerprint64Decimal": 176771821997400543}
    for entry in older:  # each is a schema the codec reads: an empty body fails as a body, not as unknown
        with pytest.raises(Exception) as refused:
            Codec().decode(MAGIC + bytes.fromhex(entry["wireBytesHex"]))
        assert not isinstance(refused.value, UnknownSchemaError), refused.value
    assert all(isinstance(m["x-dsom-older-fingerprints"], list) for m in messages.values())


def test_topics_partitioning_groups_and_limits_follow_the_settings(doc: dict[str, Any]) -> None:
    assert doc["channels"]["ingest"]["address"] == "dsom.ingest.{operatorId}"
    assert doc["channels"]["ingest"]["bindings"]["kafka"]["partitions"] == 6
    # as pipeline.kafka.admin creates it
    assert doc["channels"]["receipts"]["bindings"]["kafka"]["partitions"] == 1
    archive = doc["channels"]["archive"]["bindings"]["kafka"]["topicConfiguration"]
    assert archive["retention.ms"] == -1 and archive["cleanup.policy"] == ["delete"]
    assert "% 6" in doc["x-dsom-partitioning"]["homePartition"]
    hosts = [s["host"] for s in doc["servers"].values()]
    assert hosts == ["kafka1.dsom.gov.ua:9093", "kafka2.dsom.gov.ua:9093"]
    pattern = doc["operations"]["receiveReceiptBatch"]["bindings"]["kafka"]["groupId"]["pattern"]
    for ok in ("dsom.operator.op-x-1", "dsom.operator.op-x-1.reconciler"):
        assert re.match(pattern, ok), ok
    for bad in ("dsom.operator.op x", "dsom-operator.op-x", "dsom.operator.", "dsom.operator.op-x."):
        assert not re.match(pattern, bad), bad
    assert doc["x-dsom-consumer"]["isolationLevel"] == "read_committed"
    limits = doc["x-dsom-limits"]
    assert (limits["maxRecordBytes"], limits["maxEventsPerRecord"]) == (1_000_000, 10_000)
    assert limits["recordBytesCountedBeforeCompression"] is True and "lz4" in limits["compression"]
    files = {f["file"] for f in doc["components"]["securitySchemes"]["mutualTls"]["x-dsom-certificate-files"]}
    assert {"ca.crt", "<key>.p12", "<key>.truststore.p12", "<key>.pem"} <= files


def test_every_reason_is_described_in_ukrainian_and_english(doc: dict[str, Any]) -> None:
    codes = {c["const"]: c for c in doc["components"]["schemas"]["ReasonCode"]["oneOf"]}
    assert set(codes) == {r.value for r in Reason}
    for code, c in codes.items():
        assert len(c["description"]) > 10 and re.search("[а-яіїєґ]", c["x-description-uk"]), code
        assert not re.search("[а-яіїєґА-ЯІЇЄҐ]", c["description"]), code
        assert c["x-scope"] in ("record", "event")


def test_descriptions_quote_the_limits_in_force() -> None:
    texts = reason_texts(ValidationSettings(max_record_bytes=500_000, late_window_us=3 * 86_400_000_000,
                                            bet_horizon_us=21 * 86_400_000_000))
    assert "500,000 bytes" in texts[Reason.RECORD_TOO_LARGE].en
    assert "500 000 байтів" in texts[Reason.RECORD_TOO_LARGE].uk
    assert texts[Reason.TOO_LATE].uk.endswith("3 дні.")  # Ukrainian plural forms
    assert "21 день" in texts[Reason.UNKNOWN_BET].uk
    assert "7 днів" in reason_texts(ValidationSettings())[Reason.TOO_LATE].uk


def test_inline_defines_each_name_once() -> None:
    files = {"a.B": {"type": "record", "name": "B", "namespace": "a", "fields": []},
             "a.C": {"type": "record", "name": "C", "namespace": "a",
                     "fields": [{"name": "x", "type": "a.B"}, {"name": "y", "type": ["null", "a.B"]}]}}
    out = inline(files["a.C"], files)
    assert out["fields"][0]["type"]["name"] == "B"
    assert out["fields"][1]["type"] == ["null", "a.B"]  # already defined: a reference again
