"""The Temporal client of the hub: one data converter, tracing, and a patient start-up."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import TLSConfig
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from hub.codec import codec_from_spec
from hub.payloads import SharedAdapterPayloadConverter
from hub.settings import Settings, get_settings

# payloads in clear: only for tools
DATA_CONVERTER = DataConverter(payload_converter_class=SharedAdapterPayloadConverter)


@lru_cache(maxsize=8)
def _encrypting(keys: str) -> DataConverter:
    """Failure messages and stack traces are encrypted too: they may quote an identifier."""
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=codec_from_spec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings | None = None) -> DataConverter:
    """Pydantic payloads, encrypted with the configured payload keys (`hub/codec.py`)."""
    keys = (settings or get_settings()).payload_keys.get_secret_value()
    return _encrypting(keys)


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS to the frontend when configured: a private CA, a client certificate (mutual TLS)."""
    if not settings.temporal_tls_enabled:
        return False

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca),
        client_cert=read(settings.temporal_tls_client_cert),
        client_private_key=read(settings.temporal_tls_client_key),
        domain=settings.temporal_tls_server_name or None,
    )


async def connect(
    settings: Settings,
    *,
    address: str | None = None,
    interceptors: Sequence[Interceptor] = (),
    wait_s: float = 60.0,
) -> Client:
    """Connect, retrying while the server starts (a dev server takes a few seconds)."""
    target = address or settings.temporal_address or "127.0.0.1:7233"
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(wait_s),
        wait=wait_exponential(multiplier=0.2, max=2.0),
        retry=retry_if_exception_type(RuntimeError),
        reraise=True,
    ):
        with attempt:
            return await Client.connect(
                target,
                namespace=settings.temporal_namespace,
                data_converter=data_converter(settings),
                interceptors=list(interceptors),
                tls=tls_config(settings),
            )
    raise AssertionError("unreachable")
