"""The monthly settlement (精算, SPEC §7): per provider and measure, what the hub credited, what the
provider's statements list, what matched, the open breaks, and the amount in yen; as the CSV that
municipal staff open in Excel.

The CSV is the report: its UTF-8 bytes (with a BOM) are what the SHA-256 of a closed month is
taken over, so staff can check a downloaded copy against `report_sha256`. It is rendered from
the figures alone, in a fixed order, so the same figures always give the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

ENCODINGS = {"utf-8": "utf-8-sig", "shift_jis": "cp932"}  # Excel's Shift_JIS is Windows-31J
COLUMNS = (
    "精算月",
    "自治体コード",
    "決済事業者ID",
    "決済事業者名",
    "施策ID",
    "施策名",
    "ハブ付与ポイント",
    "明細ポイント",
    "一致ポイント",
    "未解決の差異",
    "円/ポイント",
    "調整ポイント",
    "精算額(円)",
)
TOTAL_LABEL = "合計"


@dataclass(frozen=True)
class Line:
    provider_id: str
    provider_name: str
    measure_id: str
    measure_title: str
    credited_points: int
    statement_points: int
    matched_points: int
    open_breaks: int
    yen_per_point: int
    adjustment: int

    @property
    def amount_yen(self) -> int:
        """What the municipality pays: the hub's credited points and any adjustment from a
        closed month, at the measure's yen per point."""
        return (self.credited_points + self.adjustment) * self.yen_per_point


@dataclass(frozen=True)
class Totals:
    credited_points: int
    statement_points: int
    matched_points: int
    open_breaks: int
    adjustment: int
    amount_yen: int

    def as_dict(self) -> dict[str, int]:
        return {
            "credited_points": self.credited_points,
            "statement_points": self.statement_points,
            "matched_points": self.matched_points,
            "open_breaks": self.open_breaks,
            "adjustment": self.adjustment,
            "amount_yen": self.amount_yen,
        }


def totals(lines: Sequence[Line], day_breaks: int = 0) -> Totals:
    """Sums of the lines; `day_breaks` are open breaks of whole days (a missing statement)."""
    return Totals(
        credited_points=sum(x.credited_points for x in lines),
        statement_points=sum(x.statement_points for x in lines),
        matched_points=sum(x.matched_points for x in lines),
        open_breaks=sum(x.open_breaks for x in lines) + day_breaks,
        adjustment=sum(x.adjustment for x in lines),
        amount_yen=sum(x.amount_yen for x in lines),
    )


def ordered(lines: Sequence[Line]) -> list[Line]:
    return sorted(lines, key=lambda x: (x.provider_id, x.measure_id))


def render_csv(
    month: str, code: str, lines: Sequence[Line], total: Totals, encoding: str = "utf-8"
) -> bytes:
    """The report as CSV: a header row, a row per provider and measure, a totals row."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding is one of {sorted(ENCODINGS)}")
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for x in ordered(lines):
        writer.writerow(
            (
                month,
                code,
                x.provider_id,
                x.provider_name,
                x.measure_id,
                x.measure_title,
                x.credited_points,
                x.statement_points,
                x.matched_points,
                x.open_breaks,
                x.yen_per_point,
                x.adjustment,
                x.amount_yen,
            )
        )
    writer.writerow(
        (
            month,
            code,
            TOTAL_LABEL,
            "",
            "",
            "",
            total.credited_points,
            total.statement_points,
            total.matched_points,
            total.open_breaks,
            "",
            total.adjustment,
            total.amount_yen,
        )
    )
    # A character Windows-31J lacks (rare in titles) becomes "?", as Excel would show it.
    return buffer.getvalue().encode(ENCODINGS[encoding], errors="replace")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def month_digest(reports: dict[str, str]) -> str:
    """One SHA-256 for a closed month: over each municipality's code and report SHA-256."""
    text = "".join(f"{code} {digest}\n" for code, digest in sorted(reports.items()))
    return sha256_hex(text.encode())
