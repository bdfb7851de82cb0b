import pytest

from pipeline.core.admission import admit
from pipeline.core.model import Reason
from pipeline.core.partitioning import home_partition

MAX = 1_000


def reason(key: bytes | None, value: bytes = b"x", partition: int | None = None) -> Reason | None:
    if partition is None:
        partition = home_partition(key, 3) if key else 0
    rejection = admit(key, value, partition, 3, MAX)
    return rejection.reason if rejection else None


def test_a_record_at_the_size_limit_passes_and_one_byte_more_is_rejected() -> None:
    assert reason(b"s1", b"x" * MAX) is None
    assert reason(b"s1", b"x" * (MAX + 1)) is Reason.RECORD_TOO_LARGE


@pytest.mark.parametrize("key", [b"s", b"x" * 64, b"op-a.cashier:7_B", b"0"])
def test_valid_source_ids(key: bytes) -> None:
    assert reason(key) is None


@pytest.mark.parametrize("key", [b"", b"x" * 65, b"x" * 300_000, b"s 1", b"s/1", b"\xd1\x96",
                                 b"s\x00", b"s|1"])
def test_invalid_source_ids(key: bytes) -> None:
    assert reason(key, partition=0) is Reason.INVALID_SOURCE_ID


def test_a_record_off_its_sources_home_is_rejected_and_told_where_home_is() -> None:
    home = home_partition(b"s1", 3)
    other = (home + 1) % 3
    rejection = admit(b"s1", b"x", other, 3, MAX)
    assert rejection is not None and rejection.reason is Reason.WRONG_PARTITION
    assert f"partition {home}, not {other}" in rejection.detail and "modulo 3" in rejection.detail
    # Partitions added to the topic later: the home stays where the state is.
    assert admit(b"s1", b"x", 5, 3, MAX) is not None
    assert admit(b"s1", b"x", home, 3, MAX) is None


def test_a_record_without_key_is_left_to_the_engine() -> None:
    assert reason(None) is None
