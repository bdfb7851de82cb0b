from pathlib import Path

from pipeline.agents.app import app
from pipeline.settings import TopicSettings
from pipeline.tools.bench_ceiling import plan, topic_bytes
from pipeline.tools.bench_receipts import first_receipts
from schemas import RECEIPT_BATCH, default_codec

T = TopicSettings(prefix="b1")
TOPICS = ["b1.ingest.op-a", "b1.ingest.op-b", "b1.receipts.op-a", "b1.receipts.op-b", "b1.archive",
          "b1.tax-events", "b1.validator-state", "b1.tax-state", "b1.dead-letter", "other.archive"]


def test_reads_and_writes_follow_the_agents_declarations() -> None:
    traffic = plan([app.get("validator"), app.get("tax"), app.get("sink")], TOPICS, T)
    # validator reads ingest; tax and sink read the archive; the sink reads receipts and tax events
    assert traffic.reads == {"b1.ingest.op-a": 1, "b1.ingest.op-b": 1, "b1.archive": 2,
                             "b1.receipts.op-a": 1, "b1.receipts.op-b": 1, "b1.tax-events": 1}
    assert traffic.writes == ("b1.archive", "b1.dead-letter", "b1.receipts.op-a", "b1.receipts.op-b",
                              "b1.tax-events", "b1.tax-state", "b1.validator-state")


def test_an_agent_more_reads_more() -> None:
    with_checkpointer = plan([app.get("validator"), app.get("checkpointer")], TOPICS, T)
    assert with_checkpointer.reads["b1.archive"] == 1
    assert "other.archive" not in with_checkpointer.reads


def test_topic_bytes_count_log_segments_of_the_prefix_only(tmp_path: Path) -> None:
    for name, size in [("b1.archive-0/0.log", 100), ("b1.archive-0/0.index", 999), ("b1.archive-1/0.log", 50),
                       ("b1.ingest.op-a-2/0.log", 7), ("other.archive-0/0.log", 1000)]:
        f = tmp_path / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x" * size)
    assert topic_bytes([tmp_path], "b1") == {"b1.archive": 150, "b1.ingest.op-a": 7}


def _receipts(source: str | None, seqs: list[int | None], status: str = "ACCEPTED") -> bytes:
    return default_codec().encode(RECEIPT_BATCH, {
        "operator_id": "op-a", "source_id": source, "ingest_topic": "b1.ingest.op-a", "ingest_partition": 0,
        "ingest_offset": 1, "processed_at_us": 0,
        "receipts": [{"seq": s, "status": status, "receipt_id": f"r{s}"} for s in seqs]})


def test_an_events_first_receipt_counts_and_a_record_rejection_names_none() -> None:
    arrivals = [(30, _receipts("s1", [2], "DUPLICATE")), (10, _receipts("s1", [1, 2])),
                (20, _receipts(None, [None]))]
    assert first_receipts(arrivals) == {("op-a", "s1", 1): 10, ("op-a", "s1", 2): 10}
