"""The topics several agents share: the archive, the dead letters, and the operators' topics.

A topic only one agent writes is declared in that agent's module (``tax-events`` in tax.py).
"""

from __future__ import annotations

from pipeline.agents.app import OperatorTopics, app
from pipeline.kafka.admin import ARCHIVE_CONFIG
from pipeline.kafka.config import OUTPUT_TOPIC_MESSAGE_BYTES

# The legal record: every accepted event once, hash-chained per ingest partition.
ARCHIVE = app.topic("archive", partitions=lambda t: t.archive_partitions, config=ARCHIVE_CONFIG)
# Kept like the archive: each entry is evidence of a record dsom could not process.
DEAD_LETTER = app.topic("dead-letter", config=ARCHIVE_CONFIG)

# Every committed registry change, one entity's whole history per key (docs/registry.md), written
# by the registry's publisher. One partition: every change in commit order, and one last record to
# resume from. Compacted: the newest history of each entity stays forever, superseded ones go
# after a minute.
REGISTRY_CONFIG = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "60000",
    "max.message.bytes": str(OUTPUT_TOPIC_MESSAGE_BYTES),
}
REGISTRY = app.topic("registry", config=REGISTRY_CONFIG)

# Created per operator (pipeline.kafka.admin.operator_topics) when its key is issued.
INGEST = OperatorTopics("ingest")
SANDBOX = OperatorTopics("sandbox")  # validated and receipted like ingest, never archived or taxed
RECEIPTS = OperatorTopics("receipts")
SANDBOX_RECEIPTS = OperatorTopics("sandbox-receipts")
