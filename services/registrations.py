"""My Payment Service registration (マイ決済サービス): verified with the provider, never storing
the security code, and one account ID of one service for one MyKey ID only."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.providers.contract import PermanentProviderError, TransientProviderError
from domain.errors import RuleViolation
from domain.provider_errors import classify
from services.context import HubContext
from storage.catalog import profile_of
from storage.ids import new_id
from storage.models import MyKey, PaymentProvider, PaymentService, PaymentServiceRegistration

_NEW_REGISTRATION = insert(cast(Table, PaymentServiceRegistration.__table__))


async def _provider_and_taken(
    session: AsyncSession, payment_service_id: str, account_id: str
) -> tuple[PaymentProvider, bool]:
    """The service's provider, and whether the account is registered already: one query."""
    taken = exists().where(
        PaymentServiceRegistration.payment_service_id == payment_service_id,
        PaymentServiceRegistration.account_id == account_id,
    )
    row = (
        await session.execute(
            select(PaymentProvider, taken.label("taken"))
            .join(PaymentService, PaymentService.provider_id == PaymentProvider.id)
            .where(PaymentService.id == payment_service_id)
        )
    ).one_or_none()
    if row is None:
        raise RuleViolation("unknown_payment_service", "no such payment service", status=422)
    return row[0], bool(row[1])


class PreCheck:
    """What registration reads before it asks the provider: the service's provider, and whether
    the account is registered already. `read` runs in the card proof's transaction
    (`identity.check_card_proof`, `along`), so it costs no transaction of its own."""

    def __init__(self, payment_service_id: str, account_id: str) -> None:
        self.payment_service_id = payment_service_id
        self.account_id = account_id
        self.found: tuple[PaymentProvider, bool] | None = None

    async def read(self, session: AsyncSession, resident: MyKey | None = None) -> None:
        self.found = await _provider_and_taken(session, self.payment_service_id, self.account_id)


async def register(
    ctx: HubContext,
    *,
    mykey_id: str,
    payment_service_id: str,
    account_id: str,
    security_code: str,
    checked: PreCheck | None = None,
) -> PaymentServiceRegistration:
    if checked is None or checked.found is None:
        checked = PreCheck(payment_service_id, account_id)
        async with ctx.sessions() as session:  # one read before the provider is asked
            await checked.read(session)
    assert checked.found is not None
    provider, taken = checked.found
    profile = profile_of(provider)
    if taken:
        raise RuleViolation(
            "account_already_registered",
            "this account of this payment service is registered to another resident",
            status=409,
        )
    adapter = ctx.registry.get(
        profile.provider_id, profile.adapter, profile.config, profile.secrets
    )
    try:
        check = await adapter.verify_account(account_id, security_code)
    except TransientProviderError as exc:
        raise RuleViolation(
            "provider_unavailable",
            "the payment service could not be reached; try again later",
            status=503,
        ) from exc
    except PermanentProviderError as exc:
        if classify(profile.adapter, exc).pauses_provider:  # the hub's keys or settings, not
            raise RuleViolation(  # the resident's account: the provider cannot be used now
                "provider_unavailable",
                "the payment service cannot be reached right now; try again later",
                status=503,
            ) from exc
        raise RuleViolation(
            "account_verification_failed",
            "the payment service refused the account details",
            status=422,
        ) from exc
    if not check.valid or check.status != "active":
        raise RuleViolation(
            "account_verification_failed",
            f"the payment service did not confirm the account ({check.status})",
            status=422,
        )
    values = {
        "id": new_id("reg"),
        "mykey_id": mykey_id,
        "payment_service_id": payment_service_id,
        "account_id": account_id,
        "status": "active",
        "created_at": ctx.clock(),
        "invalidated_at": None,
    }
    try:
        async with ctx.sessions.begin() as session:  # a Core INSERT: no unit of work to flush
            await (await session.connection()).execute(_NEW_REGISTRATION, values)
    except IntegrityError as exc:  # lost a race for the same account
        raise RuleViolation(
            "account_already_registered",
            "this account of this payment service is registered to another resident",
            status=409,
        ) from exc
    return PaymentServiceRegistration(**values)
