"""Type stubs of dsom's compiled hot paths (pipeline/native, Rust)."""

from collections.abc import Callable
from typing import Any, final

def receipt_id(topic: str, partition: int, offset: int, index: int) -> str: ...

Intervals = dict[str, tuple[list[int], list[int], int]]  # source -> (starts, ends, expired_below)
# (source, bet_ref) -> (offset of the placing record, stake or None if unknown, refunded so far)
OpenBets = dict[tuple[str, str], tuple[int, int | None, int]]

class ValidatorState:
    """One ingest partition's validator state (mirrors pipeline.core.state.PartitionState)."""

    def __init__(self, topic: str, partition: int, conflict_window: int = 4096) -> None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    def apply(self, key: bytes, value: bytes | None) -> None: ...
    def memory(self) -> dict[str, int]: ...
    def snapshot(self) -> tuple[Intervals, OpenBets, tuple[int, bytes]]: ...
    def windows(self) -> dict[str, tuple[bytes, list[tuple[int, int, int, int]], list[int]]]: ...

Changelog = list[tuple[bytes, bytes | None]]

@final
class Decision:
    """What ``Validator.process`` decided for one record (frozen)."""

    @property
    def receipts_key(self) -> bytes:
        """The batch's source_id (empty when the record was rejected before it was read)."""
    @property
    def receipts(self) -> bytes | None:
        """The single-object ReceiptBatch, if any receipt was written."""
    @property
    def archive(self) -> bytes | None:
        """The single-object ArchiveBatch, if any event was accepted."""
    @property
    def changelog(self) -> Changelog:
        """(key, value or None for a tombstone) changelog entries, in order."""
    @property
    def events_in(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def accepted(self) -> dict[str, int]:
        """Events accepted, by kind."""
    @property
    def rejected(self) -> dict[str, int]:
        """Events or records rejected, by reason."""

class PlayerRefRules:
    """The personal-data rules' word lists (pipeline.core.personal_data_words), for the fast path."""

    def __init__(self, first_names: list[str], surname_endings: list[str], glued_domains: list[str],
                 domain_labels: list[tuple[str, str]], top_level_domains: list[str],
                 years: tuple[int, int]) -> None: ...
    def plain(self, player_ref: str) -> bool:
        """Whether ``player_ref`` certainly passes pipeline.core.personal_data's rules."""

class Validator:
    """The validator's per-record work (mirrors pipeline.core.processor.RecordProcessor.process)."""

    def __init__(
        self,
        headers: tuple[list[tuple[bytes, int]], bytes, bytes],
        licences: list[tuple[str, str, str, int, int | None, list[tuple[int, int | None]]]],
        currency: str,
        max_amount_kopecks: int,
        future_skew_us: int,
        late_window_us: int,
        bet_horizon_us: int,
        max_open_gaps: int,
        max_events: int,
        check: Callable[[str, dict[str, Any], int], tuple[str, str] | None],
        player_refs: PlayerRefRules,
    ) -> None: ...
    def process(
        self, state: ValidatorState, operator_id: str, offset: int, key: bytes | None, value: bytes,
        now_us: int,
    ) -> Decision | None: ...

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
def watched_events(value: bytes) -> tuple[str, str, int, list[dict[str, Any]]]: ...
