"""Sinks: adapters that copy the pipeline's Kafka topics into analytical stores."""
