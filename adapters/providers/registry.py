"""Builds one adapter per provider from its configuration, and reuses it while that is unchanged."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.providers.batch_file import BatchFileAdapter, BatchFileConfig
from adapters.providers.contract import ProviderAdapter
from adapters.providers.hub_rest import HubRestAdapter, HubRestConfig
from adapters.providers.instrumented import instrument
from adapters.providers.paylite import PayLiteAdapter, PayLiteConfig

AdapterFactory = Callable[[str, dict[str, Any], dict[str, Any]], ProviderAdapter]


def _hub_rest_config(config: dict[str, Any], secrets: dict[str, Any]) -> HubRestConfig:
    return HubRestConfig(
        base_url=str(config["base_url"]),
        signing_secret=str(secrets["signing_secret"]),
        timeout_s=float(config.get("timeout_s", 10.0)),
        ack_mode=str(config.get("ack_mode", "sync")),
    )


def _hub_rest(provider_id: str, config: dict[str, Any], secrets: dict[str, Any]) -> ProviderAdapter:
    return HubRestAdapter(provider_id, _hub_rest_config(config, secrets))


def _batch_file(
    provider_id: str, config: dict[str, Any], secrets: dict[str, Any]
) -> ProviderAdapter:
    return BatchFileAdapter(
        provider_id,
        BatchFileConfig(
            outbox_dir=Path(str(config["outbox_dir"])),
            inbox_dir=Path(str(config["inbox_dir"])),
            online=_hub_rest_config(config, secrets),
        ),
    )


def _paylite(provider_id: str, config: dict[str, Any], secrets: dict[str, Any]) -> ProviderAdapter:
    return PayLiteAdapter(
        provider_id,
        PayLiteConfig(
            base_url=str(config["base_url"]),
            client_id=str(config["client_id"]),
            client_secret=str(secrets["client_secret"]),
            yen_per_point=int(config.get("yen_per_point", 1)),
            timeout_s=float(config.get("timeout_s", 10.0)),
        ),
    )


DEFAULT_FACTORIES: dict[str, AdapterFactory] = {
    "hub_rest": _hub_rest,
    "batch_file": _batch_file,
    "paylite": _paylite,
}


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
