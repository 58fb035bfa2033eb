"""The payload codec: AES-GCM under the first configured key, any configured key opens, payloads
recorded before encryption pass through, and a wrong key or a changed byte is refused."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload

from hub.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadKeyError,
    codec_from_spec,
    new_key_spec,
    parse_keys,
)
from hub.settings import Environment, Settings

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"mykey_id":"AB12CD34"}')


def spec(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


async def test_encrypted_payloads_hide_their_data_and_name_their_key() -> None:
    codec = codec_from_spec(spec("k1"))
    [sealed] = await codec.encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert b"AB12CD34" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [PLAIN]


async def test_rotation_encrypts_with_the_first_key_and_opens_with_any() -> None:
    old, new = spec("2025"), spec("2026")
    before = codec_from_spec(old)
    after = codec_from_spec(f"{new},{old}")
    [sealed_before] = await before.encode([PLAIN])
    [sealed_after] = await after.encode([PLAIN])
    assert sealed_after.metadata[KEY_ID] == b"2026"
    assert await after.decode([sealed_before, sealed_after]) == [PLAIN, PLAIN]
    with pytest.raises(PayloadKeyError, match="2026"):
        await before.decode([sealed_after])


async def test_payloads_recorded_before_encryption_pass_through() -> None:
    codec = codec_from_spec(spec("k1"))
    assert await codec.decode([PLAIN]) == [PLAIN]


async def test_a_changed_byte_or_a_borrowed_key_id_is_refused() -> None:
    codec = codec_from_spec(spec("k1"))
    [sealed] = await codec.encode([PLAIN])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + b"\x00")
    with pytest.raises(PayloadKeyError):
        await codec.decode([tampered])
    impostor = EncryptionCodec(parse_keys(spec("k1")))  # same ID, another key
    with pytest.raises(PayloadKeyError):
        await impostor.decode([sealed])


@pytest.mark.parametrize(
    "bad",
    ["", "k1", "k1:not base64!", "k1:" + base64.b64encode(b"short").decode(), "a:{0},a:{0}"],
)
def test_malformed_key_lists_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_keys(bad.format(base64.b64encode(os.urandom(32)).decode()))


def test_a_new_key_spec_parses() -> None:
    [key] = parse_keys(new_key_spec("2027-01"))
    assert key.key_id == "2027-01" and len(key.secret) == 32


def test_production_refuses_the_development_audit_and_payload_keys() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(env=Environment.PRODUCTION)
    message = str(refused.value)
    assert "HUB_AUDIT_HMAC_KEY" in message and "HUB_PAYLOAD_KEYS" in message
