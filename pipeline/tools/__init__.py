"""Tools around the pipeline, not part of its runtime: the demo, the benchmarks, the summary."""
