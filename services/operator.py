"""Onboarding by platform operators: municipalities, providers, payment services, API keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters.tls import TLS_CONFIG_KEYS, ClientTls, InsecureUrl, require_https
from domain.errors import RuleViolation
from domain.identifiers import is_municipality_code
from domain.providers import ADAPTERS, check_adapter_fields, policy_from_config
from services.context import HubContext
from storage import keys
from storage.models import ApiKey, Municipality, PaymentProvider, PaymentService

# Configuration keys that are secrets: stored apart, never returned.
SECRET_KEYS = frozenset({"signing_secret", "webhook_secrets", "client_secret", "password"})


def split_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    public = {k: v for k, v in config.items() if k not in SECRET_KEYS}
    secret = {k: v for k, v in config.items() if k in SECRET_KEYS}
    return public, secret


def check_transport(config: dict[str, Any], *, production: bool) -> None:
    """TLS of the provider's endpoint: `https://` in production, and TLS files this host reads."""
    if production and "base_url" in config:
        try:
            require_https(str(config["base_url"]), "base_url")
        except InsecureUrl as refused:
            raise RuleViolation("invalid_provider_config", str(refused), status=422) from refused
    for key in TLS_CONFIG_KEYS:
        if key in config and not isinstance(config[key], str):
            raise RuleViolation("invalid_provider_config", f"{key} is a file path", status=422)
    problems = ClientTls.from_config(config).problems()
    if problems:
        raise RuleViolation("invalid_provider_config", "; ".join(problems), status=422)


def check_adapter_config(adapter: str, config: dict[str, Any]) -> None:
    if adapter not in ADAPTERS:
        raise RuleViolation(
            "invalid_provider_config", f"adapter must be one of {sorted(ADAPTERS)}", status=422
        )
    policy_from_config(config)
    check_adapter_fields(adapter, config)
    if adapter == "hub_rest":
        for required in ("base_url", "signing_secret"):
            if not isinstance(config.get(required), str) or not config[required]:
                raise RuleViolation(
                    "invalid_provider_config", f"hub_rest needs {required}", status=422
                )
        secrets = config.get("webhook_secrets", [])
        if (
            not isinstance(secrets, list)
            or len(secrets) > 2
            or not all(isinstance(s, str) and s for s in secrets)
        ):
            raise RuleViolation(
                "invalid_provider_config",
                "webhook_secrets is a list of one or two secrets",
                status=422,
            )


async def _add(ctx: HubContext, row: object, what: str) -> None:
    try:
        async with ctx.sessions.begin() as session:
            session.add(row)
    except IntegrityError as exc:
        raise RuleViolation("already_exists", f"this {what} already exists", status=409) from exc


async def create_municipality(ctx: HubContext, code: str, name: str) -> Municipality:
    if not is_municipality_code(code):
        raise RuleViolation(
            "invalid_municipality_code",
            "a municipality code is six digits whose last is the check digit",
            status=422,
        )
    row = Municipality(code=code, name=name, created_at=ctx.clock())
    await _add(ctx, row, "municipality")
    return row


async def create_provider(
    ctx: HubContext, provider_id: str, name: str, adapter: str, config: dict[str, Any]
) -> PaymentProvider:
    check_adapter_config(adapter, config)
    check_transport(config, production=ctx.settings.is_production)
    public, secret = split_secrets(config)
    row = PaymentProvider(
        id=provider_id,
        name=name,
        adapter=adapter,
        config=public,
        secrets=secret,
        created_at=ctx.clock(),
    )
    await _add(ctx, row, "provider")
    return row


async def create_payment_service(
    ctx: HubContext, payment_service_id: str, name: str, provider_id: str
) -> PaymentService:
    async with ctx.sessions() as session:
        if await session.get(PaymentProvider, provider_id) is None:
            raise RuleViolation("unknown_provider", "no such provider", status=422)
    row = PaymentService(
        id=payment_service_id, name=name, provider_id=provider_id, created_at=ctx.clock()
    )
    await _add(ctx, row, "payment service")
    return row


async def create_api_key(
    ctx: HubContext, role: keys.Role, scope: str | None, label: str | None = None
) -> tuple[ApiKey, str]:
    async with ctx.sessions.begin() as session:
        if role is keys.Role.MUNICIPALITY:
            if not scope or await session.get(Municipality, scope) is None:
                raise RuleViolation(
                    "invalid_scope",
                    "a municipality key needs an existing municipality code",
                    status=422,
                )
        elif role is keys.Role.PROVIDER:
            if not scope or await session.get(PaymentProvider, scope) is None:
                raise RuleViolation(
                    "invalid_scope", "a provider key needs an existing provider ID", status=422
                )
        elif scope:
            raise RuleViolation("invalid_scope", f"a {role.value} key has no scope", status=422)
        return await keys.create_key(session, role=role, scope=scope, now=ctx.clock(), label=label)


async def update_provider(
    ctx: HubContext, provider_id: str, *, name: str | None, config: dict[str, Any] | None
) -> PaymentProvider:
    """Change a provider's name or configuration. Secrets given are replaced; secrets not given
    stay as they were, so an operator can change a rate limit without knowing the secrets."""
    async with ctx.sessions.begin() as session:
        row = await session.get(PaymentProvider, provider_id, with_for_update=True)
        if row is None:
            raise RuleViolation("not_found", "no such provider", status=404)
        if config is not None:
            public, secret = split_secrets(config)
            merged_secrets = {**row.secrets, **secret}
            check_adapter_config(row.adapter, {**public, **merged_secrets})
            check_transport(public, production=ctx.settings.is_production)
            row.config = public
            row.secrets = merged_secrets
        if name is not None:
            row.name = name
    return row


async def revoke_api_key(ctx: HubContext, key_id: str) -> ApiKey:
    async with ctx.sessions.begin() as session:
        row = await session.get(ApiKey, key_id, with_for_update=True)
        if row is None:
            raise RuleViolation("not_found", "no such API key", status=404)
        if row.revoked_at is None:
            row.revoked_at = ctx.clock()
    return row


async def list_rows(
    ctx: HubContext, model: type, *order: Any, limit: int | None = None, offset: int = 0
) -> list[Any]:
    """Rows of `model` in `order`; with `limit`, only that many from `offset`."""
    query: Any = select(model).order_by(*order).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    async with ctx.sessions() as session:
        return list((await session.execute(query)).scalars())
