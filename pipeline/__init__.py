"""dsom pipeline: Kafka agents that validate, deduplicate, receipt and archive operators' events."""
