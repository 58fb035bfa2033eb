"""Virtual My Number Cards for benchmark residents, issued once and kept on disk.

Each card is a certificate of its own, with its own serial, issued by the test CA in the J-LIS
profile (`simulators/jpki.py`); the hub binds a serial to a MyKey ID and never looks at the key
itself (its checks read the key only to verify the signature). The keys come from a small pool
(`KEY_POOL` RSA-2048 keys per batch, each shared by many cards): one key takes a tenth of a
second or more to generate, so a key per card made 20,000 cards cost half an hour of two cores,
where signing a certificate takes about a millisecond. A batch is issued in a process pool, one
task per key, the first time the cards are needed, and appended to a cache (`HUB_BENCH_CACHE`,
default `~/.cache/mph-bench/cards.jsonl`: the test CA on the first line, then one card per line,
each with its certificate and key as the simulator's card file holds them, so a cache written
with a key per card reads the same). A cache from before the test CA followed the J-LIS profile
is issued anew. Cards are issued two hours in the past, so the hub's one-hour activation rule
lets them log in at once.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from adapters.jpki.hierarchy import USER_AUTHENTICATION_CA_NAME
from simulators.jpki import TestCA, VirtualCard

PIN = "1234"
ISSUED_BEFORE = timedelta(hours=2)
KEY_POOL = 32  # RSA-2048 keys per batch of cards


def cache_file() -> Path:
    base = os.environ.get("HUB_BENCH_CACHE") or str(Path.home() / ".cache" / "mph-bench")
    return Path(base) / "cards.jsonl"


@dataclass
class PreparedCard(VirtualCard):
    """A virtual card whose key is parsed once: the simulator's card parses its PEM (and checks
    the key) on every signature, tens of milliseconds that would be charged to the machine the
    hub shares. A wrong PIN still goes through the card's own PIN counting."""

    _key: rsa.RSAPrivateKey | None = field(default=None, repr=False, compare=False)

    def sign(self, nonce: bytes, pin: str) -> bytes:
        if pin != self.pin or self.locked:
            return super().sign(nonce, pin)
        if self._key is None:
            self._key = _parse_key(self.private_key_pem)
        return self._key.sign(nonce, padding.PKCS1v15(), hashes.SHA256())


def _parse_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


_pool_ca: TestCA | None = None


def _init_pool(ca_json: str) -> None:
    global _pool_ca
    _pool_ca = TestCA.from_json(ca_json)


def _issue_with_new_key(count: int, issued_at: datetime) -> list[str]:
    """`count` cards sharing one new key, each with its own certificate and serial."""
    assert _pool_ca is not None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    cards = []
    for _ in range(count):
        certificate = _pool_ca.issue_certificate(key.public_key(), issued_at=issued_at)
        der = certificate.public_bytes(serialization.Encoding.DER)
        cards.append(VirtualCard(der, key_pem, PIN).to_json())
    return cards


def _shares(missing: int, keys: int) -> list[int]:
    """`missing` cards split over at most `keys` keys, as evenly as possible."""
    keys = max(1, min(keys, missing))
    return [missing // keys + (1 if k < missing % keys else 0) for k in range(keys)]


@dataclass
class CardDeck:
    """The cache file and the CA that issued its cards (the hub's trust anchor in a run)."""

    path: Path
    ca_pem: str
    count: int


def _read(path: Path) -> tuple[TestCA | None, list[str]]:
    if not path.exists():
        return None, []
    lines = path.read_text().splitlines()
    if not lines:
        return None, []
    ca = TestCA.from_json(json.loads(lines[0])["ca"])
    if ca.certificate.subject != USER_AUTHENTICATION_CA_NAME:
        return None, []  # made before the test CA followed the J-LIS profile: issue anew
    return ca, [line for line in lines[1:] if line]


def ensure_cards(needed: int, path: Path | None = None, *, keys: int = KEY_POOL) -> CardDeck:
    """At least `needed` cards in the cache, the missing ones issued over `keys` new keys on
    every core."""
    path = path or cache_file()
    ca, cards = _read(path)
    if ca is None:
        ca, cards = TestCA.create(), []
    missing = needed - len(cards)
    if missing > 0:
        issued_at = datetime.now(UTC) - ISSUED_BEFORE
        with ProcessPoolExecutor(
            os.cpu_count() or 1, initializer=_init_pool, initargs=(ca.to_json(),)
        ) as pool:
            shares = _shares(missing, keys)
            for batch in pool.map(_issue_with_new_key, shares, [issued_at] * len(shares)):
                cards += batch
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps({"ca": ca.to_json()}) + "\n")
            out.writelines(card + "\n" for card in cards)
        os.replace(temporary, path)
    return CardDeck(path, ca.certificate_pem, len(cards))


def load_cards(path: Path, offset: int, count: int) -> list[PreparedCard]:
    """Cards `offset … offset+count-1` of the cache, ready to sign; the cards that share a key
    share it parsed, once."""
    _, lines = _read(path)
    if offset + count > len(lines):
        raise ValueError(f"the card cache holds {len(lines)} cards, {offset + count} needed")
    cards = []
    parsed: dict[str, rsa.RSAPrivateKey] = {}
    for line in lines[offset : offset + count]:
        card = VirtualCard.from_json(line)
        key = parsed.get(card.private_key_pem)
        if key is None:
            key = parsed[card.private_key_pem] = _parse_key(card.private_key_pem)
        cards.append(
            PreparedCard(
                card.certificate_der, card.private_key_pem, card.pin, card.failed_pins, key
            )
        )
    return cards
