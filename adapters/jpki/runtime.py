"""The JPKI outside services a hub process keeps: the CRL cache with its refresher, and the
linking service client. Built once by the composition root from the settings it is handed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from adapters.jpki.crl import CrlCache
from adapters.jpki.links import LinkService
from adapters.jpki.verifier import TrustStore
from hub.settings import Settings

log = logging.getLogger(__name__)


def jpki_clients(settings: Settings, trust: TrustStore) -> tuple[CrlCache, LinkService | None]:
    """No I/O here: CRLs are read by `start_crl_refresher`, the linking service on first use."""
    crls = CrlCache(
        settings.jpki_crl_sources,
        trust,
        grace=timedelta(seconds=settings.jpki_crl_grace_s),
        timeout_s=settings.jpki_http_timeout_s,
        tls=settings.jpki_tls,
    )
    links = None
    if settings.jpki_link_service_url:
        links = LinkService(
            settings.jpki_link_service_url,
            timeout_s=settings.jpki_http_timeout_s,
            tls=settings.jpki_tls,
        )
    return crls, links


async def start_crl_refresher(
    crls: CrlCache | None, interval_s: float
) -> asyncio.Task[None] | None:
    """Read every CRL once before serving, then keep them fresh in the background.

    A source that cannot be read now is retried on schedule; until a CRL of an issuer is loaded,
    its certificates fail closed.
    """
    if crls is None or not crls.enabled:
        return None
    report = await crls.refresh()
    log.info("CRLs loaded from %d source(s), %d failed", len(report.loaded), len(report.failed))
    return asyncio.create_task(crls.keep_fresh(interval_s), name="jpki-crl-refresher")


async def stop_jpki_clients(
    refresher: asyncio.Task[None] | None, links: LinkService | None
) -> None:
    if refresher is not None:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
    if links is not None:
        await links.aclose()
