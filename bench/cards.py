"""Virtual My Number Cards for benchmark residents, issued once and kept on disk.

An RSA-2048 key takes a tenth of a second or more to generate, so cards are made in a process
pool the first time they are needed and appended to a cache (`HUB_BENCH_CACHE`, default
`~/.cache/mph-bench/cards.jsonl`: the test CA on the first line, then one card per line). They
are issued two hours in the past, so the hub's one-hour activation rule lets them log in at once.
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
            key = serialization.load_pem_private_key(
                self.private_key_pem.encode(), password=None, unsafe_skip_rsa_key_validation=True
            )
            assert isinstance(key, rsa.RSAPrivateKey)
            self._key = key
        return self._key.sign(nonce, padding.PKCS1v15(), hashes.SHA256())


_pool_ca: TestCA | None = None


def _init_pool(ca_json: str) -> None:
    global _pool_ca
    _pool_ca = TestCA.from_json(ca_json)


def _issue(issued_at: datetime) -> str:
    assert _pool_ca is not None
    return _pool_ca.issue_card(PIN, issued_at=issued_at).to_json()


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


def ensure_cards(needed: int, path: Path | None = None) -> CardDeck:
    """At least `needed` cards in the cache, generating the missing ones on every core."""
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
            cards += list(pool.map(_issue, [issued_at] * missing, chunksize=16))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps({"ca": ca.to_json()}) + "\n")
            out.writelines(card + "\n" for card in cards)
        os.replace(temporary, path)
    return CardDeck(path, ca.certificate_pem, len(cards))


def load_cards(path: Path, offset: int, count: int) -> list[PreparedCard]:
    """Cards `offset … offset+count-1` of the cache, ready to sign."""
    _, lines = _read(path)
    if offset + count > len(lines):
        raise ValueError(f"the card cache holds {len(lines)} cards, {offset + count} needed")
    cards = []
    for line in lines[offset : offset + count]:
        card = VirtualCard.from_json(line)
        cards.append(
            PreparedCard(card.certificate_der, card.private_key_pem, card.pin, card.failed_pins)
        )
    return cards
