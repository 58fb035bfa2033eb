"""The Temporal client of the hub: one data converter, tracing, and a patient start-up."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from hub.settings import Settings

DATA_CONVERTER: DataConverter = pydantic_data_converter


def data_converter() -> DataConverter:
    return DATA_CONVERTER


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
                data_converter=data_converter(),
                interceptors=list(interceptors),
            )
    raise AssertionError("unreachable")
