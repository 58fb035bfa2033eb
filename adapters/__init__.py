"""One package per outside system, each behind a small contract.

Adapters return results; they never write the database.
"""
