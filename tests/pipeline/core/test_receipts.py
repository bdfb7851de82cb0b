from pipeline.core.receipts import RecordReceiptIds, receipt_id


def test_record_receipt_ids_are_receipt_ids() -> None:
    ids = RecordReceiptIds("dsom.ingest.op-a", 2, 12345)
    for index in (-1, 0, 1, 9, 10, 499, 10_000):
        assert ids(index) == receipt_id("dsom.ingest.op-a", 2, 12345, index)
    assert len({ids(i) for i in range(1000)}) == 1000
    rid = ids(0)
    assert rid[14] == "8" and rid[19] in "89ab" and len(rid) == 36
