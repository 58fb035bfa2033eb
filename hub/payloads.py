"""Payload conversion with one cache of pydantic type adapters for the whole worker process.

The SDK builds a payload converter for every workflow instance, and pydantic's converter keeps
its type adapters per converter, so each new workflow would build the schema of every input and
result type again: a large share of a worker's CPU. Here every converter shares one cache. Types
are keys, so it works across workflows only for types imported once (the sandbox passes
`workflows.messages`, `activities` and `domain` through: see `hub/workers.py`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter, PydanticPayloadConverter

_ADAPTERS: Any = lru_cache(maxsize=1024)(TypeAdapter)


class SharedAdapterPayloadConverter(PydanticPayloadConverter):
    """Pydantic payloads whose type adapters are built once per process."""

    def __init__(self) -> None:
        super().__init__()
        for converter in self.converters.values():
            if isinstance(converter, PydanticJSONPlainPayloadConverter):
                converter._type_adapter = _ADAPTERS  # the SDK's own per-instance cache, shared


def adapters_built() -> int:
    """How many type adapters the process has built (for tests)."""
    return int(_ADAPTERS.cache_info().currsize)
