"""The benchmark suite behind ``losskit bench`` (contract in benchmarks/README.md)."""
