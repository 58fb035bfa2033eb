"""Builds one adapter per provider from its configuration, and reuses it while that is unchanged."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from adapters.providers.contract import ProviderAdapter
from adapters.providers.hub_rest import HubRestAdapter, HubRestConfig
from adapters.providers.instrumented import instrument

AdapterFactory = Callable[[str, dict[str, Any], dict[str, Any]], ProviderAdapter]


def _hub_rest(provider_id: str, config: dict[str, Any], secrets: dict[str, Any]) -> ProviderAdapter:
    return HubRestAdapter(
        provider_id,
        HubRestConfig(
            base_url=str(config["base_url"]),
            signing_secret=str(secrets["signing_secret"]),
            timeout_s=float(config.get("timeout_s", 10.0)),
        ),
    )


DEFAULT_FACTORIES: dict[str, AdapterFactory] = {"hub_rest": _hub_rest}


class AdapterRegistry:
    def __init__(self, factories: dict[str, AdapterFactory] | None = None) -> None:
        self._factories = dict(factories or DEFAULT_FACTORIES)
        self._adapters: dict[str, tuple[str, ProviderAdapter]] = {}

    def register(self, adapter: str, factory: AdapterFactory) -> None:
        self._factories[adapter] = factory

    def supports(self, adapter: str) -> bool:
        return adapter in self._factories

    def get(
        self, provider_id: str, adapter: str, config: dict[str, Any], secrets: dict[str, Any]
    ) -> ProviderAdapter:
        fingerprint = hashlib.sha256(
            json.dumps([adapter, config, secrets], sort_keys=True, default=str).encode()
        ).hexdigest()
        cached = self._adapters.get(provider_id)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        factory = self._factories.get(adapter)
        if factory is None:
            raise LookupError(f"no adapter named {adapter!r}")
        built = instrument(factory(provider_id, config, secrets))  # latency, errors, span
        self._adapters[provider_id] = (fingerprint, built)
        return built

    async def aclose(self) -> None:
        for _, adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
