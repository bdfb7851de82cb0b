"""The registry's pure rules and typed records: no database, no Kafka, no clock."""
