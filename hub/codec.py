"""Encrypted workflow payloads: MyKey IDs and account IDs are unreadable in Temporal's history.

Every payload the hub sends to Temporal (workflow and activity inputs and results, signals,
updates, queries, heartbeats) is serialised, then sealed with AES-256-GCM under the first
configured key; the key's ID travels in the payload's metadata, so a payload is opened with
whichever configured key sealed it. Rotation: put the new key first and keep the old ones
listed until no open history holds payloads sealed with them. A payload without encryption
metadata (histories recorded before encryption) passes through unchanged.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CIPHER = "encryption-cipher"
AES_GCM = b"AES256-GCM"
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """A payload names a key this process does not have, or its ciphertext does not open."""


@dataclass(frozen=True)
class PayloadKey:
    key_id: str
    secret: bytes


def parse_keys(spec: str) -> list[PayloadKey]:
    """`id1:base64,id2:base64` → keys in order (the first encrypts); 32-byte keys only."""
    keys: list[PayloadKey] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key_id, sep, encoded = part.partition(":")
        if not sep or not key_id.strip():
            raise ValueError("payload keys are written id:base64key,id:base64key")
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error as error:
            raise ValueError(f"payload key {key_id!r} is not base64") from error
        if len(secret) != 32:
            raise ValueError(f"payload key {key_id!r} must be 32 bytes (AES-256)")
        keys.append(PayloadKey(key_id.strip(), secret))
    if not keys:
        raise ValueError("at least one payload key is required")
    if len({k.key_id for k in keys}) != len(keys):
        raise ValueError("payload key IDs must be unique")
    return keys


def new_key_spec(key_id: str) -> str:
    """A fresh `id:base64` entry for HUB_PAYLOAD_KEYS."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[PayloadKey]) -> None:
        if not keys:
            raise ValueError("at least one payload key is required")
        self.current = keys[0]
        self._ciphers = {k.key_id: AESGCM(k.secret) for k in keys}

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.current.key_id.encode()
        sealed = self._ciphers[self.current.key_id].encrypt(
            nonce, payload.SerializeToString(), key_id
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id, CIPHER: AES_GCM},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # never encrypted: recorded before encryption, or not ours
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(f"no payload key {key_id!r} is configured")
        try:
            plain = cipher.decrypt(
                payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode()
            )
        except InvalidTag as error:
            raise PayloadKeyError(f"payload does not open with key {key_id!r}") from error
        return Payload.FromString(plain)


def codec_from_spec(spec: str) -> EncryptionCodec:
    return EncryptionCodec(parse_keys(spec))
