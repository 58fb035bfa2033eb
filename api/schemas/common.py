"""Base classes and the bodies several audiences share."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field

from domain.measures import MeasureKind, MeasureState
from domain.points import GrantState
from domain.receipts import ReceiptState
from domain.settlement import Line, render_csv, totals

T = TypeVar("T")

Timestamp = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 time with offset",
        examples=["2026-11-27T03:00:00+00:00"],
    ),
]


def example(**values: Any) -> ConfigDict:
    """A model configuration carrying one example of the whole body."""
    return ConfigDict(json_schema_extra={"examples": [values]})


class Strict(BaseModel):
    """A request body: unknown fields are refused (422 `validation_error`), never ignored."""

    model_config = ConfigDict(extra="forbid")


class Body(BaseModel):
    """A response body. Fields may be added in v1; none is removed or renamed."""


class LocalizedText(Body):
    """One message in the console's two languages."""

    ja: str
    en: str


class Page(Body, Generic[T]):
    """One page of a list: pass `next_cursor` back as `cursor` for the next; null on the last."""

    items: list[T]
    next_cursor: str | None = Field(description="cursor of the next page; null on the last page")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A named page (`MeasurePage`) shows its item's example as a one-item page, unless
        it brings an example of its own."""
        super().__pydantic_init_subclass__(**kwargs)
        own = cls.model_config.get("json_schema_extra")
        inherited = any(
            own is getattr(base, "model_config", {}).get("json_schema_extra")
            for base in cls.__mro__[1:]
        )
        if isinstance(own, dict) and own.get("examples") and not inherited:
            return
        (item,) = get_args(cls.model_fields["items"].annotation) or (None,)
        item_extra = getattr(item, "model_config", {}).get("json_schema_extra")
        if not isinstance(item_extra, dict) or not item_extra.get("examples"):
            return
        page: dict[str, Any] = {"items": item_extra["examples"][:1], "next_cursor": "YzE6NTA"}
        for name, info in cls.model_fields.items():  # a page's own counters, such as `total`
            if name not in page and info.annotation in (int, "int"):
                page[name] = 1
        cls.model_config["json_schema_extra"] = {"examples": [page]}
        cls.model_rebuild(force=True)


class CardProofBody(Strict):
    """A challenge freshly signed by the My Number Card, made exactly like a login (SPEC §5)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "challenge_id": "chl_4f9c2d1e8a7b6c5d",
                    "certificate": "MIIDdzCCAl+gAwIBAgIU…",
                    "signature": "kq3Vb0y9…",
                }
            ]
        },
    )

    challenge_id: str = Field(min_length=1, max_length=64)
    certificate: str = Field(min_length=1, max_length=20000, description="base64 DER")
    signature: str = Field(min_length=1, max_length=4000, description="base64")


class GrantBrief(Body):
    """A grant as a workflow reported it: no resident, no times."""

    model_config = example(grant_id="app_7Q2…-g1", points=1000, state="unreceived")

    grant_id: str
    points: int
    state: GrantState


class Grant(Body):
    """Points of one measure (and, for an event measure, one event) for one resident."""

    model_config = example(
        grant_id="app_7Q2…-g1",
        measure_id="msr_01J9ZK…",
        event_id=None,
        points=1000,
        state="credited",
        created_at="2026-11-27T03:00:00+00:00",
    )

    grant_id: str
    measure_id: str
    event_id: str | None
    points: int
    state: GrantState
    created_at: Timestamp


class Receipt(Body):
    """One receipt request (受取申請) of one grant to one payment service."""

    model_config = example(
        receipt_id="app_7Q2…-g1-r1",
        grant_id="app_7Q2…-g1",
        measure_id="msr_01J9ZK…",
        payment_service_id="paysim-pay",
        points=1000,
        state="credited",
        created_at="2026-11-27T03:05:00+00:00",
        finished_at="2026-11-27T03:05:01+00:00",
    )

    receipt_id: str
    grant_id: str
    measure_id: str
    payment_service_id: str
    points: int
    state: ReceiptState
    created_at: Timestamp
    finished_at: Timestamp | None


class OfferedService(Body):
    """A payment service eligible for a measure, and from when."""

    payment_service_id: str
    name: str
    available_from: Timestamp


class Measure(Body):
    """A measure (施策). Residents see only services already available (FAQ)."""

    model_config = example(
        measure_id="msr_01J9ZK…",
        municipality_code="131016",
        title="子育て応援ポイント",
        description="18歳以下の子がいる世帯に1,000ポイント",
        kind="application",
        state="published",
        points_per_grant=1000,
        per_person_cap=1000,
        budget_points=1_000_000,
        budget_left=999_000,
        opens_at="2026-11-01T00:00:00+09:00",
        closes_at="2026-12-31T23:59:59+09:00",
        receipt_deadline="2027-02-28T23:59:59+09:00",
        target_list_only=False,
        auto_grant=False,
        review_required=False,
        late_report_days=0,
        yen_per_point=1,
        payment_services=[
            {
                "payment_service_id": "paysim-pay",
                "name": "PaySim ペイ",
                "available_from": "2026-11-01T00:00:00+09:00",
            }
        ],
    )

    measure_id: str
    municipality_code: str
    title: str
    description: str
    kind: MeasureKind
    state: MeasureState
    points_per_grant: int
    per_person_cap: int
    budget_points: int | None
    budget_left: int | None
    opens_at: Timestamp
    closes_at: Timestamp
    receipt_deadline: Timestamp
    target_list_only: bool
    auto_grant: bool
    review_required: bool
    late_report_days: int
    yen_per_point: int = Field(description="yen the municipality pays a provider per point (精算)")
    payment_services: list[OfferedService]


class MeasurePage(Page[Measure]):
    """Measures, one page."""


# One measure's month at one provider, rendered by the hub's own settlement code, so the
# settlement examples show figures, CSV and checksums that agree with each other.
EXAMPLE_SETTLEMENT_LINE = Line(
    provider_id="paysim",
    provider_name="PaySim",
    measure_id="msr_01J9ZK…",
    measure_title="子育て応援ポイント",
    credited_points=120_000,
    statement_points=120_000,
    matched_points=120_000,
    open_breaks=0,
    yen_per_point=1,
    adjustment=-1000,
)
EXAMPLE_SETTLEMENT_TOTALS = totals([EXAMPLE_SETTLEMENT_LINE])
EXAMPLE_SETTLEMENT_REPORT = render_csv(
    "2026-11", "131016", [EXAMPLE_SETTLEMENT_LINE], EXAMPLE_SETTLEMENT_TOTALS
)


class SettlementTotals(Body):
    """A month's settlement (精算) summed over its lines, in points and yen (SPEC §7)."""

    model_config = example(**EXAMPLE_SETTLEMENT_TOTALS.as_dict())

    credited_points: int
    statement_points: int
    matched_points: int
    open_breaks: int
    adjustment: int
    amount_yen: int
