import dsom_native
import pytest

from pipeline.core.receipts import RecordReceiptIds, receipt_id


@pytest.mark.parametrize("topic,partition,offset,index", [
    ("t", 0, 0, 0), ("dsom.ingest.op-casino-1", 3, 123_456_789, -1),
    ("dsom.ingest.op-casino-1", 3, 123_456_789, 499), ("x", 2**31 - 1, 2**62, 10_000),
])
def test_receipt_id_matches_python(topic: str, partition: int, offset: int, index: int) -> None:
    native = dsom_native.receipt_id(topic, partition, offset, index)
    assert native == receipt_id(topic, partition, offset, index)


def test_receipt_ids_of_one_record_match_python() -> None:
    ids = RecordReceiptIds("dsom.ingest.op-1", 7, 42)
    native = [dsom_native.receipt_id("dsom.ingest.op-1", 7, 42, i) for i in range(1000)]
    assert native == [ids(i) for i in range(1000)]
