"""Identifiers and their check digits: MyKey IDs, municipality codes, My Numbers."""

from __future__ import annotations

import re
import secrets
import unicodedata

MYKEY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MYKEY_PATTERN = re.compile(r"^[0-9A-Z]{8}$")
MUNICIPALITY_CODE_PATTERN = re.compile(r"^[0-9]{6}$")


def new_mykey_id() -> str:
    """A random MyKey ID: 8 characters of [0-9A-Z] (SPEC §1)."""
    return "".join(secrets.choice(MYKEY_ALPHABET) for _ in range(8))


def is_mykey_id(value: str) -> bool:
    return bool(MYKEY_PATTERN.match(value))


def municipality_check_digit(first_five: str) -> int:
    """Check digit of a 全国地方公共団体コード (JIS X 0402): weights 6..2, modulus 11.

    The digit is 11 minus the remainder; a result of 10 becomes 0 and 11 becomes 1.
    """
    total = sum(int(d) * w for d, w in zip(first_five, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def is_municipality_code(code: str) -> bool:
    """True when `code` is six digits whose last digit is the check digit of the first five."""
    if not MUNICIPALITY_CODE_PATTERN.match(code):
        return False
    return municipality_check_digit(code[:5]) == int(code[5])


def my_number_check_digit(first_eleven: str) -> int:
    """Check digit of a My Number (個人番号), as the ordinance defines it.

    P_n is the n-th digit counted from the right of the first eleven; Q_n is n+1 for n <= 6
    and n-5 above. The digit is 0 when sum(P_n * Q_n) mod 11 <= 1, else 11 minus that remainder.
    """
    digits = [int(c) for c in reversed(first_eleven)]
    total = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(digits, start=1))
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_my_number(candidate: str) -> bool:
    """True when `candidate` is exactly twelve ASCII digits with a valid check digit."""
    if len(candidate) != 12 or not candidate.isascii() or not candidate.isdigit():
        return False
    return my_number_check_digit(candidate[:11]) == int(candidate[11])


_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー－]")
_DIGIT_RUN = re.compile(r"\d(?:[\s\-‐‑‒–—―−ー－]*\d)*")


# The hub's own identifiers: three-letter prefixes and twenty hex digits (`storage.ids.new_id`;
# application IDs from a keyed hash, and the review, report and workflow IDs made from them).
# Their hex may hold a run of twelve digits that passes the check digit by chance; that run is
# part of the identifier, not a My Number, and the identifier must stay readable in the audit
# trail and the logs.
_HEX20 = r"[0-9a-f]{20}(?![0-9A-Za-z])"
_HUB_ID = re.compile(
    rf"(?<![0-9A-Za-z])(?:(?:[a-z]{{3}}_)+{_HEX20}|application-[a-z]{{3}}_{_HEX20}-{_HEX20})"
)


def _pieces(text: str) -> list[tuple[str, bool]]:
    """`text` cut into pieces, each with whether it is one of the hub's own identifiers."""
    pieces, start = [], 0
    for found in _HUB_ID.finditer(text):
        pieces += [(text[start : found.start()], False), (found.group(), True)]
        start = found.end()
    pieces.append((text[start:], False))
    return pieces


def _my_number_in(run: str) -> list[str]:
    digits = _SEPARATORS.sub("", run)
    return [
        digits[start : start + 12]
        for start in range(0, max(len(digits) - 11, 0))
        if is_my_number(digits[start : start + 12])
    ]


def find_my_numbers(text: str) -> list[str]:
    """Every run of digits in `text` that reads as a valid My Number.

    Full-width digits are normalised (NFKC); spaces and hyphens between digits are ignored, so
    "1234 5678 9018" and "１２３４－５６７８－９０１８" are both found. Longer runs are scanned
    with a sliding window of twelve digits. The hub's own identifiers are not scanned.
    """
    normalised = unicodedata.normalize("NFKC", text)
    found: list[str] = []
    for piece, is_hub_id in _pieces(normalised):
        if not is_hub_id:
            for run in _DIGIT_RUN.finditer(piece):
                found.extend(_my_number_in(run.group()))
    return found


def random_hex(nbytes: int, *, around: str = "{}") -> str:
    """`around` with `{}` replaced by random hex, drawn again until no My Number can be read in it.

    About one draw in 370 of twenty hex digits holds a run of digits that passes the check
    digit; an identifier made of it would be redacted wherever it is written down.
    """
    while True:
        drawn = secrets.token_hex(nbytes)
        candidate = around.format(drawn)
        if not find_my_numbers(drawn) and not find_my_numbers(candidate):
            return candidate


def contains_my_number(text: str) -> bool:
    return bool(find_my_numbers(text))


def redact_my_numbers(text: str) -> str:
    """`text` with every digit run that hides a My Number replaced by a marker."""
    normalised = unicodedata.normalize("NFKC", text)

    def replace(match: re.Match[str]) -> str:
        return "[redacted]" if _my_number_in(match.group()) else match.group()

    return "".join(
        piece if is_hub_id else _DIGIT_RUN.sub(replace, piece)
        for piece, is_hub_id in _pieces(normalised)
    )


def application_key(measure_id: str, mykey_id: str, secret: bytes) -> str:
    """A stable, non-reversible key for one resident's application to one measure.

    Workflow IDs are visible to anyone who can read the Temporal server, so they are derived
    from a keyed hash of the MyKey ID rather than the ID itself.
    """
    import hashlib
    import hmac

    digest = hmac.new(secret, f"{measure_id}:{mykey_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:20]
