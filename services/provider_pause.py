"""Pausing a provider's queue after authentication or configuration failures (issue 17).

Minimal version written on the carrier branch (H1) against the agreed interface: a failure of
kind `pause` counts as pausing, and nothing is stored. The providers branch (H2) owns this module
(storage `storage/provider_status.py`, migration 0021, operator resume) and its version wins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.provider_errors import ProviderFailure


async def record_failure(
    session: AsyncSession, provider_id: str, failure: ProviderFailure, *, now: datetime
) -> bool:
    """True when the provider is now paused."""
    return failure.kind == "pause"


async def record_success(session: AsyncSession, provider_id: str) -> None:
    return None


async def is_paused(session: AsyncSession, provider_id: str) -> bool:
    return False


async def resume(session: AsyncSession, provider_id: str, *, actor: str, note: str | None) -> None:
    return None
