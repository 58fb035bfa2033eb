"""One pagination convention for every list endpoint: `?cursor=&limit=` in, `{items,
next_cursor}` out. `next_cursor` is opaque to clients: pass it back as `cursor` to get the next
page; it is null on the last page. A cursor that the hub did not issue is 422 `invalid_cursor`.
"""

# No `from __future__ import annotations`: the dependency's annotations name `maximum` from the
# factory's scope, which FastAPI can only read as live objects.
import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Query

from domain.errors import RuleViolation

T = TypeVar("T")
CURSOR_PREFIX = "c1:"
MAX_POSITION = 100_000_000


@dataclass(frozen=True)
class PageRequest:
    """Where a page starts (`offset`) and how long it is (`limit`).

    A list read by key instead (`id < after_key`, newest first) keeps its place while rows are
    added or leave its filter between pages: its cursor carries the last key shown, not an
    offset, so nothing repeats or is skipped."""

    limit: int
    offset: int = 0

    @property
    def fetch(self) -> int:
        """Rows to read: one more than the page, to know whether another page follows."""
        return self.limit + 1

    @property
    def after_key(self) -> int | None:
        """A list read by key: the last key of the previous page; none on the first page."""
        return self.offset or None

    def page(
        self, rows: Sequence[T], key: Callable[[T], int] | None = None
    ) -> tuple[list[T], str | None]:
        """The page's items, and the cursor of the next page when there is one (`key`: the
        list is read by key, and the next page starts after this page's last key)."""
        items = list(rows[: self.limit])
        if len(rows) <= self.limit:
            return items, None
        return items, encode_cursor(key(items[-1]) if key else self.offset + self.limit)

    def slice(self, rows: Sequence[T]) -> tuple[list[T], str | None]:
        """The page out of a whole (small) list held in memory."""
        return self.page(rows[self.offset : self.offset + self.fetch])


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        text = ""
    position = text.removeprefix(CURSOR_PREFIX)
    if not text.startswith(CURSOR_PREFIX) or not position.isdigit():
        raise RuleViolation("invalid_cursor", "cursor is not one this API issued", status=422)
    value = int(position)
    if value > MAX_POSITION:
        raise RuleViolation("invalid_cursor", "cursor is out of range", status=422)
    return value


def paging(default: int = 50, maximum: int = 200) -> Callable[..., PageRequest]:
    """A dependency reading `cursor` and `limit` for a list of at most `maximum` per page."""
    limit_query = Query(ge=1, le=maximum, description=f"items per page (at most {maximum})")

    def dependency(
        cursor: Annotated[
            str | None,
            Query(max_length=200, description="`next_cursor` of the previous page; none: first"),
        ] = None,
        limit: Annotated[int, limit_query] = default,
    ) -> PageRequest:
        return PageRequest(limit=limit, offset=decode_cursor(cursor))

    return dependency
