"""The benchmark's virtual cards: certificates of their own over a small pool of keys, each
passing the hub's own checks, and a cache written with a key per card still read."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adapters.jpki.verifier import (
    TrustStore,
    serial_hex_of,
    verify_card_signature,
    verify_certificate,
)
from bench.cards import ISSUED_BEFORE, PIN, ensure_cards, load_cards
from simulators.jpki import TestCA


def hub_accepts(card_der: bytes, sign: Callable[[bytes, str], bytes], trust: TrustStore) -> str:
    """What the hub checks at login; returns the serial the hub would bind to a MyKey ID."""
    certificate = x509.load_der_x509_certificate(card_der)
    nonce = secrets.token_bytes(32)
    verify_card_signature(certificate, nonce, sign(nonce, PIN))
    return verify_certificate(certificate, trust, datetime.now(UTC)).serial_hex


def test_cards_share_a_few_keys_and_each_has_its_own_serial(tmp_path: Path) -> None:
    deck = ensure_cards(7, tmp_path / "cards.jsonl", keys=2)
    assert deck.count == 7
    cards = load_cards(deck.path, 0, deck.count)
    trust = TrustStore(
        [x509.load_pem_x509_certificate(deck.ca_pem.encode())], allow_test_hierarchy=True
    )
    serials = [hub_accepts(card.certificate_der, card.sign, trust) for card in cards]
    assert len(set(serials)) == 7
    assert len({card.private_key_pem for card in cards}) == 2
    same_key = [card for card in cards if card.private_key_pem == cards[0].private_key_pem]
    assert len(same_key) >= 2
    assert same_key[0].serial_hex != same_key[1].serial_hex
    assert same_key[0]._key is same_key[1]._key  # parsed once for the cards that share it


def test_a_cache_with_a_key_per_card_is_read_and_topped_up(tmp_path: Path) -> None:
    ca = TestCA.create()
    issued_at = datetime.now(UTC) - ISSUED_BEFORE
    old = [ca.issue_card(PIN, issued_at=issued_at) for _ in range(2)]  # a key per card, as before
    path = tmp_path / "cards.jsonl"
    path.write_text(
        json.dumps({"ca": ca.to_json()}) + "\n" + "".join(card.to_json() + "\n" for card in old)
    )
    deck = ensure_cards(5, path, keys=1)
    assert deck.count == 5 and deck.ca_pem == ca.certificate_pem
    cards = load_cards(path, 0, 5)
    assert [card.certificate_der for card in cards[:2]] == [card.certificate_der for card in old]
    assert len({card.private_key_pem for card in cards}) == 3  # two old keys, one new
    root = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
    trust = TrustStore([root], allow_test_hierarchy=True)
    assert len({serial_hex_of(card.certificate) for card in cards}) == 5
    for card in cards[1:3]:  # an old card and a new one
        hub_accepts(card.certificate_der, card.sign, trust)


def test_the_cache_keeps_the_simulator_card_format(tmp_path: Path) -> None:
    deck = ensure_cards(2, tmp_path / "cards.jsonl", keys=1)
    lines = deck.path.read_text().splitlines()
    assert set(json.loads(lines[0])) == {"ca"}
    card = json.loads(lines[1])
    assert set(card) == {"certificate_der", "private_key_pem", "pin", "failed_pins"}
    serialization.load_pem_private_key(card["private_key_pem"].encode(), password=None)
