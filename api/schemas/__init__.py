"""Every request and response body of the v1 API, one module per audience.

The OpenAPI document (`docs/openapi.json`) is generated from these models, and clients are
generated from the document, so a field renamed here is a contract change: it shows in the
document's diff and fails the contract test until the document is regenerated
(`mph openapi --write`). Each model carries an example; lists are `Page`s
(`{items, next_cursor}`, `api/pagination.py`); errors are `Problem`s (`api/problem_docs.py`).

- `common`: the base classes, pages, and what several audiences show (grants, receipts, measures,
  settlement totals)
- `resident`, `municipality`, `provider`, `support`, `operator`, `health`: one per audience
"""

from __future__ import annotations

from api.schemas.common import CardProofBody, Strict

__all__ = ["CardProofBody", "Strict"]
