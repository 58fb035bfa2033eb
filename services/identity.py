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
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.jpki.links import LinkServiceUnavailable
from adapters.jpki.verifier import (
    VerifiedCertificate,
    parse_certificate,
    serial_hex_of,
    verify_card_signature,
    verify_certificate,
)
from domain import challenges
from domain.errors import RuleViolation
from services.context import HubContext
from storage import identity
from storage.models import MyKey

# Called with the session's resident once it is known (the audit's actor, the per-MyKey limit).
ResidentSeen = Callable[[MyKey], Awaitable[None]]
# A route's own work in a card proof's transaction (`check_card_proof`), given the resident.
Along = Callable[[AsyncSession, MyKey], Awaitable[None]]

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


def _challenge_key(ctx: HubContext) -> bytes:
    return challenges.challenge_key(ctx.id_secret)


async def new_challenge(ctx: HubContext) -> tuple[str, str]:
    """A signed challenge: nothing is written until it is used (`domain/challenges.py`)."""
    challenge = challenges.issue(
        _challenge_key(ctx),
        secrets.token_bytes(challenges.RANDOM_BYTES),
        now=ctx.clock(),
        ttl=timedelta(seconds=ctx.settings.challenge_ttl_s),
    )
    return challenge.challenge_id, base64.b64encode(challenge.nonce).decode()


@contextlib.asynccontextmanager
async def spent_on_refusal(ctx: HubContext, challenge: challenges.Challenge) -> AsyncIterator[None]:
    """A refused attempt spends its challenge too (in a transaction of its own, since the
    refusal rolled back the one it was in), so a failed attempt cannot be tried again."""
    try:
        yield
    except RuleViolation as refused:
        if refused.code != "challenge_used":
            with contextlib.suppress(RuleViolation):  # already spent: nothing to add
                async with ctx.sessions.begin() as session:
                    await identity.spend_challenge(session, challenge, now=ctx.clock())
        raise


async def verify_proof(
    ctx: HubContext, proof: CardProof
) -> tuple[VerifiedCertificate, challenges.Challenge]:
    """The card's signature over a challenge the hub issued and the certificate behind it, with
    no database work: the caller spends the challenge in its own transaction.

    Rate limits (`ctx.login_limits`): uses of one challenge before it is opened; uses of one
    card once its signature shows the card itself signed.
    """
    certificate_der = _b64(proof.certificate, "certificate")
    signature = _b64(proof.signature, "signature")
    limits = ctx.login_limits
    if limits is not None:
        await limits.challenge_use(proof.challenge_id)
    now = ctx.clock()
    challenge = challenges.open_challenge(_challenge_key(ctx), proof.challenge_id, now=now)
    async with spent_on_refusal(ctx, challenge):
        certificate = parse_certificate(certificate_der)
        verify_card_signature(certificate, challenge.nonce, signature)
        if limits is not None:
            await limits.card_use(serial_hex_of(certificate))
        verified = verify_certificate(certificate, ctx.trust, now)
        if ctx.crls is not None:
            ctx.crls.check(verified.serial_hex, verified.issuer_fingerprint, now)
    return verified, challenge


async def resolve(
    ctx: HubContext, verified: VerifiedCertificate, *, known_unbound: bool = False
) -> Resolution:
    """The MyKey ID a verified certificate belongs to, following renewals back when unknown
    (`known_unbound`: the caller has just read that the serial itself is bound to none)."""
    if not known_unbound:
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
    """A card the hub knows logs in with one transaction: the challenge spent, the binding read,
    the MyKey ID checked and the session opened. So does a first login when no linking service is
    configured (a new MyKey ID bound in the same transaction). With one, a first login or a
    renewal asks the linking service outside any transaction, then binds and opens the session in
    a second one."""
    verified, challenge = await verify_proof(ctx, proof)
    now = ctx.clock()

    async def _opened(session: AsyncSession, bound: identity.Identity) -> Login:
        token, expires_at = await identity.open_session(
            session,
            mykey_id=bound.mykey_id,
            serial_hex=verified.serial_hex,
            now=now,
            ttl=timedelta(seconds=ctx.settings.session_ttl_s),
        )
        return Login(token, expires_at, bound.mykey_id, bound.issued)

    async with spent_on_refusal(ctx, challenge):
        for attempt in range(3):
            try:
                async with ctx.sessions.begin() as session:
                    await identity.spend_challenge(session, challenge, now=now)
                    bound_to = await identity.bound_mykey_id(session, verified.serial_hex)
                    if bound_to is not None:
                        if ctx.login_limits is not None:
                            await ctx.login_limits.login_of(bound_to)
                        await identity.check_mykey_usable(session, bound_to)
                        return await _opened(session, identity.Identity(bound_to, False))
                    if ctx.links is None:  # nothing to ask: a first login, a new MyKey ID
                        bound = await identity.bind_certificate(
                            session, verified, now=now, known_unbound=True
                        )
                        return await _opened(session, bound)
                break
            except IntegrityError:
                # A concurrent first login bound the serial (the next attempt finds its binding),
                # or the new MyKey ID was drawn before: nothing was written, the challenge too is
                # unspent; try again.
                if attempt == 2:
                    raise
        # Unknown so far (committed above: the challenge is spent).
        resolution = await resolve(ctx, verified, known_unbound=True)
        if resolution.mykey_id is not None and ctx.login_limits is not None:
            await ctx.login_limits.login_of(resolution.mykey_id)
        for attempt in range(3):
            try:
                async with ctx.sessions.begin() as session:
                    bound = await identity.bind_certificate(
                        session,
                        verified,
                        now=now,
                        mykey_id=resolution.mykey_id,
                        predecessor_serial_hex=resolution.predecessor_serial_hex,
                    )
                    return await _opened(session, bound)
            except IntegrityError:  # a concurrent first login bound the serial: use its binding
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


async def logout(ctx: HubContext, token: str) -> None:
    async with ctx.sessions.begin() as session:
        await identity.end_session(session, token)


async def check_card_proof(
    ctx: HubContext,
    proof: CardProof | None,
    token: str,
    seen: ResidentSeen | None = None,
    along: Along | None = None,
) -> MyKey:
    """The session's resident, with a fresh card read whose certificate belongs to it: for a card
    the hub knows, one transaction (the session and the binding read in one query, the challenge
    spent). `along` runs in that transaction once the proof holds: a route's own work, without
    a transaction of its own (registration's reads before it calls out, a receipt claim).

    A renewed card proves itself the same way it logs in: its first use binds it to the MyKey ID
    of the certificate it renewed, which must be the session's; `along` then runs in a
    transaction of its own.
    """
    if proof is None:
        async with ctx.sessions() as session:
            resident = await identity.resident_for_token(session, token, now=ctx.clock())
        if seen is not None:
            await seen(resident)
        raise RuleViolation(
            "card_proof_required", "this operation needs a fresh card proof", status=401
        )
    verified, challenge = await verify_proof(ctx, proof)
    now = ctx.clock()
    async with spent_on_refusal(ctx, challenge):
        async with ctx.sessions.begin() as session:
            resident, bound_to = await identity.resident_and_binding(
                session, token, verified.serial_hex, now=now
            )
            if seen is not None:
                await seen(resident)
            await identity.spend_challenge(session, challenge, now=now)
            if bound_to is not None:
                if bound_to != resident.mykey_id:
                    raise _not_this_resident()
                if along is not None:
                    await along(session, resident)
                return resident
        # A renewed card's first use (committed above: the challenge is spent).
        resolution = await resolve(ctx, verified, known_unbound=True)
        if resolution.mykey_id != resident.mykey_id:
            raise _not_this_resident()
        # IntegrityError: a login with the same card bound it meanwhile, to the same MyKey ID.
        with contextlib.suppress(IntegrityError):
            await _bind(ctx, verified, resolution, now)
    if along is not None:
        async with ctx.sessions.begin() as session:
            await along(session, resident)
    return resident


def _not_this_resident() -> RuleViolation:
    return RuleViolation(
        "card_proof_required", "the card proof does not belong to this resident", status=401
    )
