"""Resident login by My Number Card: challenge, then signed challenge (SPEC §1, §5)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import Context, CurrentResident, bearer_token
from api.schemas import CardProofBody
from api.schemas.resident import Challenge, Session
from services import identity

router = APIRouter(prefix="/v1/auth", tags=["resident"])


@router.post("/challenges", status_code=201, response_model=Challenge)
async def create_challenge(ctx: Context) -> Challenge:
    """A random nonce for the card to sign: single use, valid five minutes."""
    challenge_id, nonce = await identity.new_challenge(ctx)
    return Challenge(challenge_id=challenge_id, nonce=nonce)


@router.post("/sessions", status_code=201, response_model=Session)
async def create_session(body: CardProofBody, ctx: Context) -> Session:
    """Log in; the first login of a card issues its MyKey ID, a renewed card keeps its own."""
    result = await identity.login(
        ctx, identity.CardProof(body.challenge_id, body.certificate, body.signature)
    )
    return Session(
        token=result.token,
        expires_at=result.expires_at.isoformat(),
        mykey_id=result.mykey_id,
        mykey_issued=result.mykey_issued,
    )


@router.delete("/sessions/current", status_code=204)
async def end_session(request: Request, _: CurrentResident, ctx: Context) -> Response:
    """Log out: the session token stops working at once."""
    await identity.logout(ctx, bearer_token(request))
    return Response(status_code=204)
