"""Builds one adapter per provider from its configuration, and reuses it while that is unchanged."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.providers.batch_file import BatchFileAdapter, BatchFileConfig
from adapters.providers.contract import PermanentProviderError, ProviderAdapter
from adapters.providers.hub_rest import HubRestAdapter, HubRestConfig
from adapters.providers.instrumented import instrument
from adapters.providers.paylite import PayLiteAdapter, PayLiteConfig
from adapters.tls import ClientTls, InsecureUrl, require_https

AdapterFactory = Callable[[str, dict[str, Any], dict[str, Any]], ProviderAdapter]


def _hub_rest_config(config: dict[str, Any], secrets: dict[str, Any]) -> HubRestConfig:
    return HubRestConfig(
        base_url=str(config["base_url"]),
        signing_secret=str(secrets["signing_secret"]),
        timeout_s=float(config.get("timeout_s", 10.0)),
        ack_mode=str(config.get("ack_mode", "sync")),
        tls=ClientTls.from_config(config),
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
            tls=ClientTls.from_config(config),
        ),
    )


DEFAULT_FACTORIES: dict[str, AdapterFactory] = {
    "hub_rest": _hub_rest,
    "batch_file": _batch_file,
    "paylite": _paylite,
}


class AdapterRegistry:
    """`require_https` (production): a provider whose `base_url` is not `https://` gets no
    adapter, even one configured before the hub ran in production."""

    def __init__(
        self, factories: dict[str, AdapterFactory] | None = None, *, require_https: bool = False
    ) -> None:
        self._factories = dict(factories or DEFAULT_FACTORIES)
        self._adapters: dict[str, tuple[str, ProviderAdapter]] = {}
        self.require_https = require_https

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
        if self.require_https and "base_url" in config:
            try:
                require_https(str(config["base_url"]), f"provider {provider_id}'s base_url")
            except InsecureUrl as refused:
                raise PermanentProviderError(str(refused), reason="insecure_url") from refused
        built = instrument(factory(provider_id, config, secrets), adapter)  # latency, errors, span
        self._adapters[provider_id] = (fingerprint, built)
        return built

    async def aclose(self) -> None:
        for _, adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
