"""Login and card proof: one verification path for both (SPEC §1)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.jpki.verifier import (
    VerifiedCertificate,
    parse_certificate,
    verify_card_signature,
    verify_certificate,
)
from domain.errors import RuleViolation
from services.context import HubContext
from storage import identity


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


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RuleViolation("validation_error", f"{what} is not valid base64", status=422) from exc


async def new_challenge(ctx: HubContext) -> tuple[str, str]:
    async with ctx.sessions.begin() as session:
        challenge = await identity.create_challenge(
            session, now=ctx.clock(), ttl=timedelta(seconds=ctx.settings.challenge_ttl_s)
        )
    return challenge.id, base64.b64encode(challenge.nonce).decode()


async def verify_proof(ctx: HubContext, proof: CardProof) -> VerifiedCertificate:
    """The challenge is spent first, in its own transaction, so a failed attempt cannot retry it."""
    certificate_der = _b64(proof.certificate, "certificate")
    signature = _b64(proof.signature, "signature")
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        nonce = await identity.consume_challenge(session, proof.challenge_id, now=now)
    certificate = parse_certificate(certificate_der)
    verify_card_signature(certificate, nonce, signature)
    return verify_certificate(certificate, ctx.trust, now)


async def login(ctx: HubContext, proof: CardProof) -> Login:
    verified = await verify_proof(ctx, proof)
    now = ctx.clock()
    async with ctx.sessions.begin() as session:
        bound = await identity.bind_certificate(session, verified, now=now)
        token, expires_at = await identity.open_session(
            session,
            mykey_id=bound.mykey_id,
            serial_hex=verified.serial_hex,
            now=now,
            ttl=timedelta(seconds=ctx.settings.session_ttl_s),
        )
    return Login(token, expires_at, bound.mykey_id, bound.issued)


async def check_card_proof(ctx: HubContext, proof: CardProof | None, mykey_id: str) -> None:
    """A fresh card read, whose certificate belongs to the resident of the session."""
    if proof is None:
        raise RuleViolation(
            "card_proof_required", "this operation needs a fresh card proof", status=401
        )
    verified = await verify_proof(ctx, proof)
    async with ctx.sessions() as session:
        binding = await identity.binding_for(session, verified.serial_hex)
    if binding is None or binding.mykey_id != mykey_id:
        raise RuleViolation(
            "card_proof_required", "the card proof does not belong to this resident", status=401
        )
