"""Temporal's remote payload codec for operators: the Temporal UI (or `temporal --codec-endpoint`)
sends encrypted payloads here and shows them decrypted, with an operator key as bearer token."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter
from temporalio.api.common.v1 import Payload

from api.deps import Context, Operator
from api.schemas.operator import PayloadJson, Payloads
from domain.errors import RuleViolation
from hub.codec import EncryptionCodec, PayloadKeyError, codec_from_spec

router = APIRouter(prefix="/v1/operator/codec", tags=["operator"])


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise RuleViolation("invalid_payload", f"{what} is not base64", status=422) from error


def _from_json(payload: PayloadJson) -> Payload:
    return Payload(
        metadata={k: _b64(v, f"metadata {k!r}") for k, v in payload.metadata.items()},
        data=_b64(payload.data, "data"),
    )


def _to_json(payload: Payload) -> PayloadJson:
    return PayloadJson(
        metadata={k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        data=base64.b64encode(payload.data).decode(),
    )


def _codec(ctx: Context) -> EncryptionCodec:
    return codec_from_spec(ctx.settings.payload_keys.get_secret_value())


@router.post("/encode")
async def encode(body: Payloads, _: Operator, ctx: Context) -> Payloads:
    encoded = await _codec(ctx).encode([_from_json(p) for p in body.payloads])
    return Payloads(payloads=[_to_json(p) for p in encoded])


@router.post("/decode")
async def decode(body: Payloads, _: Operator, ctx: Context) -> Payloads:
    """Payloads sealed with a key this hub no longer has are refused, naming the key."""
    try:
        decoded = await _codec(ctx).decode([_from_json(p) for p in body.payloads])
    except PayloadKeyError as error:
        raise RuleViolation("payload_not_decodable", str(error), status=422) from error
    return Payloads(payloads=[_to_json(p) for p in decoded])
