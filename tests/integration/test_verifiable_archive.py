"""The verifiable archive on the real broker: checkpoints signed by the checkpointer agent, proofs
verified by the standalone tool, and tampering an insider could do, each found and located."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from pipeline.agents.checkpointer import CheckpointerAgent
from pipeline.archive import verify_archive
from pipeline.archive_guard_service import ENTITY as GUARD_ENTITY
from pipeline.archive_guard_service import ArchiveGuard, broker_look, kafka_send
from pipeline.archive_logs import consistency, inclusion, read_checkpoint_notes, verifier_of
from pipeline.core.alert_rules import AlertRules
from pipeline.core.chain import GENESIS, Provenance
from pipeline.core.checkpoint import Checkpoint, Signer, verify_checkpoint
from pipeline.core.processor import make_processor
from pipeline.kafka.acl_admin import grant
from pipeline.kafka.admin import ARCHIVE_CONFIG, ensure_topics, system_topics
from pipeline.kafka.config import client_config
from pipeline.kafka.reader import read_to_end, topic_partitions
from pipeline.security.acls import Grant
from pipeline.security.archive_guard import read_guard
from pipeline.security.archive_key import init_archive_key
from pipeline.settings import REPO_ROOT, Settings
from schemas import ALERT, ARCHIVE_BATCH, default_codec
from schemas.codec import encode_event_body
from schemas.raw import encode_archive_batch
from tests.integration.conftest import settings_env
from tests.pipeline.core.test_processor import record
from tests.pipeline.core.test_validation import NOW, REGISTRY, event
from tests.web.conftest import World, login_as, make_world
from web.app import app_from_settings
from web.proofs import ArchiveProofs, archive_proofs

pytestmark = pytest.mark.integration
CODEC = default_codec()
RECORDS = 12


def _archive_values(operator: str = "op-a", ingest_partition: int = 0) -> list[tuple[bytes, bytes]]:
    """(key, value) of RECORDS + 1 archive batches, correctly chained, as the validator makes them."""
    proc = make_processor(REGISTRY, Settings().validation, Settings().topics, CODEC)
    state = proc.new_state(f"x.ingest.{operator}", ingest_partition)
    out = []
    for i in range(RECORDS + 1):  # the last: the validator's next record, after a forgery
        events = [event(seq=i * 3 + j + 1, bet_ref=f"b{i}-{j}", operator_ref=f"tx-{i}-{j}") for j in range(3)]
        o = proc.process(state, i, b"s1", record(events, operator=operator), NOW)
        assert o.archive_value is not None
        out.append((f"x.ingest.{operator}/{ingest_partition}".encode(), o.archive_value))
    return out


def _changed(value: bytes, **changes: Any) -> bytes:
    """The same archive batch claiming another operator, offset, ...: its hash chain no longer verifies."""
    _, batch = CODEC.decode(value, expect=ARCHIVE_BATCH)
    return encode_archive_batch({**batch, **changes}, _bodies(value))


def _rechained(records: list[tuple[bytes, bytes]], at: int, operator: str) -> list[tuple[bytes, bytes]]:
    """The archive rewritten with record ``at`` re-attributed to ``operator`` and every link from there
    recomputed, as an insider who can write the archive would: every chain verifies."""
    out, prev = [], GENESIS
    for i, (key, value) in enumerate(records):
        _, batch = CODEC.decode(value, expect=ARCHIVE_BATCH)
        if i == at:
            batch["operator_id"] = operator
        prov = Provenance(batch["operator_id"], batch["source_id"], batch["ingest_topic"],
                          batch["ingest_partition"], batch["ingest_offset"])
        for e in batch["events"]:
            e["prev_hash"] = prev
            e["hash"] = prev = prov.link_hash(prev, e["chain_index"], e["event"]["seq"], e["receipt_id"],
                                              encode_event_body(e["event"]))
        out.append((key, encode_archive_batch(batch, _bodies(value))))
    return out


def _bodies(value: bytes) -> list[bytes]:
    return [encode_event_body(e["event"]) for e in CODEC.decode(value, expect=ARCHIVE_BATCH)[1]["events"]]


def _produce(s: Settings, partition: int, records: list[tuple[bytes, bytes]]) -> None:
    p = Producer(client_config(s.kafka, **{"acks": "all", "enable.idempotence": True}))
    for key, value in records:
        p.produce(s.topics.archive, value, key, partition=partition)
    assert p.flush(30) == 0


def _alerts(s: Settings) -> list[dict[str, Any]]:
    """Every record on the alerts topic, in its partitions' order."""
    kafka, group = s.kafka_as("pipeline"), s.topics.reader_group
    tps = topic_partitions(kafka, rf"^{s.topics.alerts}$", group=group)
    return [CODEC.decode(m.value() or b"", expect=ALERT)[1] for m in read_to_end(kafka, tps, group=group)]


def _run_checkpointer_until(s: Settings, partition: int, size: int) -> None:
    verifier = verifier_of(s)
    stop = threading.Event()
    agent = threading.Thread(target=CheckpointerAgent(s).run, args=(stop,))
    agent.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sizes = [verify_checkpoint(n, verifier).size for _, n in read_checkpoint_notes(s)]
            if size in sizes:
                return
            time.sleep(0.5)
        raise AssertionError(f"no checkpoint of size {size}; have {sizes}")
    finally:
        stop.set()
        agent.join(30)


def _verify_tool(tmp: Path, s: Settings, doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    (tmp / "proof.json").write_text(json.dumps(doc))
    return subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "verify_proof.py"), "--vkey",
                           str(s.archive_key_dir / "signing.vkey"), str(tmp / "proof.json")],
                          capture_output=True, text=True, timeout=30, check=False)


def _dsom(s: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], env=settings_env(s), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def _proofs_api(s: Settings, tmp: Path) -> tuple[TestClient, World]:
    """The web application (its own registry and people) reading this archive for proofs."""
    world = make_world(tmp / "web")
    app = app_from_settings(world.settings, None, world.registry)
    app.__wrapped__.dependency_overrides[archive_proofs] = lambda: ArchiveProofs(s)
    return TestClient(app, base_url="http://127.0.0.1"), world


def _findings(s: Settings, witness: list[tuple[str, str]] = ()) -> list[str]:  # type: ignore[assignment]
    return verify_archive(s, verifier_of(s), witness).findings


def test_checkpoints_proofs_and_tampering(settings: Settings, tmp_path: Path) -> None:
    s = settings.model_copy(update={"archive": settings.archive.model_copy(update={
        "key_dir": tmp_path / "archive-key", "checkpoint_every_records": 5, "checkpoint_interval_s": 0.3})})
    init_archive_key(s.archive_key_dir, s.archive.origin)
    ensure_topics(s, system_topics(s))
    part = zlib.crc32(b"op-a") % s.topics.archive_partitions
    records = _archive_values()
    _produce(s, part, records[:5])
    _run_checkpointer_until(s, part, 5)  # the count rule signs at 5
    _produce(s, part, records[5:RECORDS])
    _run_checkpointer_until(s, part, RECORDS)  # restored from its changelog, then the time rule
    notes = [n for _, n in read_checkpoint_notes(s)]
    sizes = [verify_checkpoint(n, verifier_of(s)).size for n in notes]
    assert sizes == [5, RECORDS]  # once each: the restart neither re-signed nor skipped a leaf

    report = verify_archive(s, verifier_of(s))
    assert report.findings == []
    assert report.logs is not None and report.logs.verified == {part: RECORDS}

    # An operator proves its receipt is in the signed log, with the public key alone.
    _, batch = CODEC.decode(records[7][1], expect=ARCHIVE_BATCH)
    receipt = batch["events"][1]["receipt_id"]
    proof = inclusion(s, receipt, verifier_of(s))
    assert proof["leaf_index"] == 7 and proof["tree_size"] == RECORDS
    ok = _verify_tool(tmp_path, s, proof)
    assert ok.returncode == 0 and f"receipt {receipt} is in record 7" in ok.stdout, ok.stderr
    # The same through the cabinets' API: regulator staff may ask for it, another operator may not.
    api, world = _proofs_api(s, tmp_path)
    login_as(api, world, "board")
    res = api.get(f"/api/proofs/inclusion/{receipt}?operator=op-a")
    assert res.status_code == 200 and res.json() == proof
    login_as(api, world, "rep-1")
    assert api.get(f"/api/proofs/inclusion/{receipt}").status_code == 404
    ok = _verify_tool(tmp_path, s, consistency(s, notes[0], notes[1], verifier_of(s)))
    assert ok.returncode == 0 and "extends its signed tree of 5" in ok.stdout, ok.stderr
    witness = [(f"witness #{i}", n) for i, n in enumerate(notes)]  # the tax service kept copies
    saved = tmp_path / "witness.txt"
    assert _dsom(s, "archive", "checkpoints", "--all", "--out", str(saved)).returncode == 0
    ok = _dsom(s, "verify-archive", "--witness", str(saved))
    assert ok.returncode == 0 and "12 records covered by a verified checkpoint" in ok.stdout, ok.stderr

    # A checkpoint forged with another key under the log's name.
    forger = Signer(s.archive.origin, Ed25519PrivateKey.generate())
    forged = forger.sign(Checkpoint(verify_checkpoint(notes[1], verifier_of(s)).origin, 99, bytes(32)).body())
    p = Producer(client_config(s.kafka))
    p.produce(s.topics.checkpoints, forged.encode(), b"x", partition=part)
    p.flush(30)
    assert [f for f in _findings(s) if "not signed by" in f] == [
        f"checkpoint {s.topics.checkpoints} {part}@4: not signed by {verifier_of(s).name}+"
        f"{verifier_of(s).key_id.hex()} (signed by: {s.archive.origin})"]

    # A correctly chained forged event appended by a principal that can write the archive: the
    # chain forks as soon as the validator archives its own next link.
    _, last = CODEC.decode(records[RECORDS - 1][1], expect=ARCHIVE_BATCH)
    head = last["events"][-1]
    body = _bodies(records[0][1])[0]
    index = head["chain_index"] + 1
    prov = Provenance(last["operator_id"], last["source_id"], last["ingest_topic"], last["ingest_partition"],
                      last["ingest_offset"])
    forged_event = {**last["events"][0], "chain_index": index, "prev_hash": head["hash"],
                    "receipt_id": "forged",
                    "hash": prov.link_hash(head["hash"], index, 1, "forged", body)}  # body: seq 1's
    _produce(s, part, [(records[0][0], encode_archive_batch({**last, "events": [forged_event]}, [body])),
                       records[RECORDS]])
    found = _findings(s)
    assert [f for f in found if f.startswith("chain ")] == [
        f"chain {last['chain_id']} at archive {part}:{RECORDS + 1}: expected link {index + 1}, found {index}"]

    # The admin deletes the archive and the checkpoints, and writes the archive again with record 3
    # re-attributed to another operator: every hash chain verifies; the witnesses' copies do not.
    tls = s.kafka.security_protocol == "SSL"
    admin = AdminClient(client_config(s.kafka_as("broker") if tls else s.kafka))
    for _, fut in admin.delete_topics([s.topics.archive, s.topics.checkpoints]).items():
        fut.result(30)
    time.sleep(1)
    for _ in range(30):
        try:
            admin.create_topics([NewTopic(s.topics.archive, s.topics.archive_partitions, 1,
                                          config=ARCHIVE_CONFIG)])[s.topics.archive].result(30)
            break
        except Exception:  # noqa: BLE001 - the deletion may still be in progress
            time.sleep(0.5)
    rewritten = _rechained(records, 3, "op-b")
    _produce(s, part, rewritten[:8])  # and its tail truncated
    assert _findings(s) == []  # without witnesses, nothing is left to tell
    caught = _dsom(s, "verify-archive", "--witness", str(saved))
    assert caught.returncode == 2 and "leaves 8..11 are missing" in caught.stderr, caught.stdout
    report = verify_archive(s, verifier_of(s), witness)
    assert report.findings == [
        f"archive partition {part}: its first 5 records do not match checkpoint witness #0: a record among "
        f"leaves 0..4 (offsets 0..4 as read now) was changed, removed, inserted or reordered",
        f"archive partition {part}: 8 records, but checkpoint witness #1 signed 12: leaves 8..11 are missing "
        f"(truncated, deleted or lost)"]

    # Deleting records (as delete-records does, up to the end): the archive erased.
    futures = admin.delete_records([TopicPartition(s.topics.archive, part, 8)])
    for fut in futures.values():
        fut.result(30)
    assert _findings(s, witness) == [
        f"archive partition {part}: 0 records, but checkpoint witness #0 signed 5: leaves 0..4 are missing "
        f"(truncated, deleted or lost)"]

    # Records re-attributed to another operator, or re-numbered (another ingest offset), without the
    # chain recomputed: the links cover both, so the chain itself breaks (link rule 2).
    other = _archive_values(ingest_partition=1)  # another chain
    _produce(s, part, [records[0], (records[1][0], _changed(records[1][1], operator_id="op-b")),
                       other[0], (other[1][0], _changed(other[1][1], ingest_offset=7))])
    content = "hash does not match its content (operator, source, ingest position, seq, receipt ID or event)"
    assert sorted(f for f in _findings(s) if f.startswith("chain ")) == [
        f"chain x.ingest.op-a/0 at archive {part}:9: link 4: {content}",
        f"chain x.ingest.op-a/1 at archive {part}:11: link 4: {content}"]

    # The admin grants itself WRITE on the archive and shortens its retention: both are rights
    # Kafka lets it take; the archive guard, watching as its own read-only principal, records each
    # in the registry's audit log within its interval, and the guard check reports them.
    if tls:
        as_guard = s.kafka_as("archive-guard")
        guard = ArchiveGuard(s.topics, world.registry, broker_look(s.topics, as_guard),
                             AlertRules.load(s.alerts.rules_path), kafka_send(s.topics, as_guard))
        assert guard.check() == []  # the baseline
        stop, interval = threading.Event(), 0.5
        watcher = threading.Thread(target=guard.run, args=(stop, interval))
        watcher.start()
        try:
            grant(s.kafka_as("broker"), "admin", [Grant("TOPIC", s.topics.archive, "LITERAL", "WRITE")])
            resource = ConfigResource(ConfigResource.Type.TOPIC, s.topics.archive, incremental_configs=[
                ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
            for fut in admin.incremental_alter_configs([resource]).values():
                fut.result(30)
            changed = time.monotonic()
            wanted = {f"ACL granted: User:admin WRITE on topic literal {s.topics.archive!r}",
                      f"{s.topics.archive}: retention.ms changed from -1 to 1000"}
            while not wanted <= {e.reason for e in world.registry.audit_entries(entity_id=GUARD_ENTITY)}:
                assert time.monotonic() - changed < interval + 5, "the guard did not record the changes"
                time.sleep(0.05)
        finally:
            stop.set()
            watcher.join(30)
        assert world.registry.verify_audit().ok
        # Each rule broken is an alert on the alerts topic, for the regulator's inbox: one open each
        # (the checkpoints topic, deleted above, already at the guard's first look).
        alerts = _alerts(s)
        assert sorted((a["state"], a["rule"], a["subject_kind"], a["subject"]) for a in alerts) == [
            ("OPENED", "archive_guard", "ARCHIVE",
             f"{s.topics.archive}|acl|User:admin|WRITE|LITERAL|{s.topics.archive}"),
            ("OPENED", "archive_guard", "ARCHIVE", f"{s.topics.archive}|config|retention.ms"),
            ("OPENED", "archive_guard", "ARCHIVE", f"{s.topics.checkpoints}|deleted")]
        assert read_guard(s.topics, s.kafka_as("admin")) == [
            f"User:admin may WRITE {s.topics.archive} (ACL on literal {s.topics.archive!r}): "
            f"only User:pipeline should write it",
            f"{s.topics.archive} has retention.ms=1000, not -1: records expire"]
        # The retention put back: the guard's next look resolves that alert, under its ID.
        resource = ConfigResource(ConfigResource.Type.TOPIC, s.topics.archive, incremental_configs=[
            ConfigEntry("retention.ms", "-1", incremental_operation=AlterConfigOpType.SET)])
        for fut in admin.incremental_alter_configs([resource]).values():
            fut.result(30)
        assert [c.action for c in guard.check()] == ["archive_config_changed"]
        [opened, resolved] = [a for a in _alerts(s) if a["subject"].endswith("|config|retention.ms")]
        assert (resolved["state"], resolved["alert_id"]) == ("RESOLVED", opened["alert_id"])
