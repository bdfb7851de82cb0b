"""Faust-style agents: each consumes a stream in a consumer group and is a thin adapter over pipeline.core."""
