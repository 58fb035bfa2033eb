"""Login and card proof: one verification path for both (SPEC §1).

A login spends its challenge, checks the card's signature over the nonce, the certificate (chain
by signature, hierarchy, validity, the one-hour activation delay), its revocation, and then finds
the MyKey ID: the one its serial is bound to, the one of the certificate it renewed (asked of the
JPKI linking service, hop by hop through a chain of renewals), or a new one for a first login.
Every refusal happens before anything is written, so a refused login creates neither a MyKey ID
nor a session.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from adapters.jpki.links import LinkServiceUnavailable
from adapters.jpki.verifier import (
    VerifiedCertificate,
    parse_certificate,
    serial_hex_of,
    verify_card_signature,
    verify_certificate,
)
from domain.errors import RuleViolation
from services.context import HubContext
from storage import identity

MAX_RENEWAL_HOPS = 32  # a card is renewed every five years; 32 renewals outlive any resident


@dataclass(frozen=True)
class CardProof:
    challenge_id: str
    certificate: str  # base64 DER
    signature: str  # base64


@dataclass(frozen=True)
class Login:
    token: str
    expires_at: datetime
    mykey_id: str
    mykey_issued: bool


@dataclass(frozen=True)
class Resolution:
    """Whose certificate this is, before anything is written."""

    mykey_id: str | None  # None: no certificate of this card was ever seen; a new MyKey ID
    predecessor_serial_hex: str | None  # the certificate this one renewed, when it renewed one
    bound: bool  # the serial itself is already bound


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RuleViolation("validation_error", f"{what} is not valid base64", status=422) from exc


def _link_service_unavailable(detail: str) -> RuleViolation:
    return RuleViolation("link_service_unavailable", detail, status=503, retry_after_s=30)


async def new_challenge(ctx: HubContext) -> tuple[str, str]:
    async with ctx.sessions.begin() as session:
        challenge = await identity.create_challenge(
            session, now=ctx.clock(), ttl=timedelta(seconds=ctx.settings.challenge_ttl_s)
        )
    return challenge.id, base64.b64encode(challenge.nonce).decode()


async def verify_proof(ctx: HubContext, proof: CardProof) -> VerifiedCertificate:
    """The challenge is spent first, in its own transaction, so a failed attempt cannot retry it.

    Rate limits (`ctx.login_limits`): uses of one challenge before it is looked up; uses of one
    card once its signature shows the card itself signed.
    """
    certificate_der = _b64(proof.certificate, "certificate")
    signature = _b64(proof.signature, "signature")
    limits = ctx.login_limits
    if limits is not None:
        await limits.challenge_use(proof.challenge_id)
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        nonce = await identity.consume_challenge(session, proof.challenge_id, now=now)
    certificate = parse_certificate(certificate_der)
    verify_card_signature(certificate, nonce, signature)
    if limits is not None:
        await limits.card_use(serial_hex_of(certificate))
    verified = verify_certificate(certificate, ctx.trust, now)
    if ctx.crls is not None:
        ctx.crls.check(verified.serial_hex, verified.issuer_fingerprint, now)
    return verified


async def resolve(ctx: HubContext, verified: VerifiedCertificate) -> Resolution:
    """The MyKey ID a verified certificate belongs to, following renewals back when unknown."""
    async with ctx.sessions() as session:
        binding = await identity.binding_for(session, verified.serial_hex)
    if binding is not None:
        return Resolution(binding.mykey_id, binding.predecessor_serial_hex, bound=True)
    if ctx.links is None:
        return Resolution(None, None, bound=False)
    serial, direct_predecessor = verified.serial_hex, None
    seen = {serial}
    for _ in range(MAX_RENEWAL_HOPS):
        try:
            previous = await ctx.links.previous_serial(serial)
        except LinkServiceUnavailable as exc:
            raise _link_service_unavailable(
                "the JPKI linking service cannot be reached; try again later"
            ) from exc
        if previous is None:
            return Resolution(None, direct_predecessor, bound=False)
        if previous in seen:
            raise _link_service_unavailable("the linking service returned a loop of renewals")
        seen.add(previous)
        direct_predecessor = direct_predecessor or previous
        async with ctx.sessions() as session:
            binding = await identity.binding_for(session, previous)
        if binding is not None:
            return Resolution(binding.mykey_id, direct_predecessor, bound=False)
        serial = previous
    raise _link_service_unavailable("the chain of renewals is longer than the hub follows")


async def _bind(
    ctx: HubContext, verified: VerifiedCertificate, resolution: Resolution, now: datetime
) -> identity.Identity:
    async with ctx.sessions.begin() as session:
        return await identity.bind_certificate(
            session,
            verified,
            now=now,
            mykey_id=resolution.mykey_id,
            predecessor_serial_hex=resolution.predecessor_serial_hex,
        )


async def login(ctx: HubContext, proof: CardProof) -> Login:
    verified = await verify_proof(ctx, proof)
    resolution = await resolve(ctx, verified)
    if resolution.mykey_id is not None and ctx.login_limits is not None:
        await ctx.login_limits.login_of(resolution.mykey_id)
    now = ctx.clock()
    for attempt in range(2):
        try:
            async with ctx.sessions.begin() as session:
                bound = await identity.bind_certificate(
                    session,
                    verified,
                    now=now,
                    mykey_id=resolution.mykey_id,
                    predecessor_serial_hex=resolution.predecessor_serial_hex,
                )
                token, expires_at = await identity.open_session(
                    session,
                    mykey_id=bound.mykey_id,
                    serial_hex=verified.serial_hex,
                    now=now,
                    ttl=timedelta(seconds=ctx.settings.session_ttl_s),
                )
            return Login(token, expires_at, bound.mykey_id, bound.issued)
        except IntegrityError:  # a concurrent first login bound the serial: use its binding
            if attempt:
                raise
    raise AssertionError("unreachable")


async def logout(ctx: HubContext, token: str) -> None:
    async with ctx.sessions.begin() as session:
        await identity.end_session(session, token)


async def check_card_proof(ctx: HubContext, proof: CardProof | None, mykey_id: str) -> None:
    """A fresh card read, whose certificate belongs to the resident of the session.

    A renewed card proves itself the same way it logs in: its first use binds it to the MyKey ID
    of the certificate it renewed, which must be the session's.
    """
    if proof is None:
        raise RuleViolation(
            "card_proof_required", "this operation needs a fresh card proof", status=401
        )
    verified = await verify_proof(ctx, proof)
    resolution = await resolve(ctx, verified)
    if resolution.mykey_id != mykey_id:
        raise RuleViolation(
            "card_proof_required", "the card proof does not belong to this resident", status=401
        )
    if not resolution.bound:
        # IntegrityError: a login with the same card bound it meanwhile, to the same MyKey ID.
        with contextlib.suppress(IntegrityError):
            await _bind(ctx, verified, resolution, ctx.clock())
