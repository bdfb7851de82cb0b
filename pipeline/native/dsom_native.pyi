"""Type stubs of dsom's compiled hot paths (pipeline/native, Rust)."""

from typing import Any

def receipt_id(topic: str, partition: int, offset: int, index: int) -> str: ...

class ArchiveTaxer:
    """Reads ArchiveBatch records for the tax agent (``pipeline.core.archive_tax``)."""

    def __init__(self, pit: tuple[tuple[int, ...], tuple[int, ...]],
                 military: tuple[tuple[int, ...], tuple[int, ...]], tolerance: int,
                 payout_header: bytes) -> None: ...
    def read(self, value: bytes) -> tuple[str, str, int, int, int, int, tuple[int, ...], bytes | None, int,
                                          list[tuple[str, str, int, int, int, int, int, int]]]: ...

def rejected_receipts(value: bytes) -> tuple[str, str | None, str, int, int, int, list[tuple[
    int | None, str | None, str, str | None, str | None, str | None, int | None, int | None]]]: ...
def payout_columns(value: bytes) -> tuple[str, str, int, list[list[Any]]]: ...
