"""Thin typed wrappers over confluent-kafka: client configuration and topic administration."""
