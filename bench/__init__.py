"""Benchmarks of the hub on one machine: `mph bench <scenario>` (see docs/benchmarks.md).

Every scenario starts what it needs as real processes on real ports (Temporal dev server, a fresh
database, the provider simulator, workers, API), drives them from separate processes, checks that
every lifecycle completed and the ledger adds up, and reports figures for the hub beside a naive
baseline (`bench/baseline/`) and the limits of the machine.
"""
