"""The ClickHouse sink: archive and receipts topics into the ``events`` and ``rejections`` tables."""
