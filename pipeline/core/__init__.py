"""Pure, typed core of the pipeline: no Kafka, no ClickHouse, no clocks."""
