"""The topics several agents share: the archive, the dead letters, and the operators' topics.

A topic only one agent writes is declared in that agent's module (``tax-events`` in tax.py).
"""

from __future__ import annotations

from pipeline.agents.app import OperatorTopics, app
from pipeline.kafka.admin import ARCHIVE_CONFIG

# The legal record: every accepted event once, hash-chained per ingest partition.
ARCHIVE = app.topic("archive", partitions=lambda t: t.archive_partitions, config=ARCHIVE_CONFIG)
# Kept like the archive: each entry is evidence of a record dsom could not process.
DEAD_LETTER = app.topic("dead-letter", config=ARCHIVE_CONFIG)

# Created per operator (pipeline.kafka.admin.operator_topics) when its key is issued.
INGEST = OperatorTopics("ingest")
SANDBOX = OperatorTopics("sandbox")  # validated and receipted like ingest, never archived or taxed
RECEIPTS = OperatorTopics("receipts")
SANDBOX_RECEIPTS = OperatorTopics("sandbox-receipts")
