"""Events of event measures: created by staff, printed as QR codes, resolved from a scan.

`resolve_qr` is where an attendance report starts: it checks the payload's signature and
expiry (`domain/qr.py`) and loads the event with its measure (`storage/events.py`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import segno

from domain.errors import RuleViolation
from domain.measures import EventTerms, MeasureState, validate_event
from domain.qr import sign_event_qr, verify_qr
from services.context import HubContext
from services.measures import check_free_text, owned_measure
from storage.catalog import get_measure, load_terms
from storage.events import EventOfMeasure, event_of_measure, events_of
from storage.ids import new_id
from storage.models.events import Event

QR_MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


@dataclass(frozen=True)
class NewEvent:
    title: str
    starts_at: datetime
    ends_at: datetime
    points: int


def qr_key(ctx: HubContext) -> bytes:
    return ctx.settings.qr_signing_key.get_secret_value().encode()


def qr_payload(ctx: HubContext, event: Event) -> str:
    """Signed on demand: the same event and key always give the same payload."""
    return sign_event_qr(event.id, event.qr_expires_at, qr_key(ctx))


async def create_event(
    ctx: HubContext, municipality_code: str, measure_id: str, new: NewEvent
) -> Event:
    """The QR code stays valid until the measure's receipt deadline: late reports scan it after
    the event, and once points can no longer be received a scan has nothing to give."""
    await owned_measure(ctx, municipality_code, measure_id)
    check_free_text(title=new.title)
    async with ctx.sessions.begin() as session:
        measure = await get_measure(session, measure_id)
        if measure.state == MeasureState.CLOSED.value:
            raise RuleViolation(
                "invalid_measure_state", "a closed measure takes no new events", status=409
            )
        terms = await load_terms(session, measure)
        validate_event(terms, EventTerms(new.starts_at, new.ends_at, new.points))
        event = Event(
            id=new_id("evt"),
            measure_id=measure_id,
            municipality_code=municipality_code,
            title=new.title,
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            points=new.points,
            qr_expires_at=measure.receipt_deadline,
            created_at=ctx.clock(),
        )
        session.add(event)
    return event


async def owned_event(
    ctx: HubContext, municipality_code: str, measure_id: str, event_id: str
) -> Event:
    await owned_measure(ctx, municipality_code, measure_id)
    async with ctx.sessions() as session:
        event = await session.get(Event, event_id)
    if event is None or event.measure_id != measure_id:
        raise RuleViolation("not_found", "no such event", status=404)
    return event


async def list_events(ctx: HubContext, municipality_code: str, measure_id: str) -> list[Event]:
    await owned_measure(ctx, municipality_code, measure_id)
    async with ctx.sessions() as session:
        return await events_of(session, measure_id)


def render_qr(payload: str, kind: Literal["png", "svg"], *, scale: int = 8) -> bytes:
    """The printable code. Error correction M survives a poster's wear; the quiet zone is the
    four modules scanners expect."""
    code = segno.make(payload, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind=kind, scale=scale, border=4)
    return out.getvalue()


async def resolve_qr(ctx: HubContext, payload: str) -> EventOfMeasure:
    """The event (with its measure and terms) a scanned payload names, or `invalid_qr`."""
    event_id = verify_qr(payload, qr_key(ctx), ctx.clock())
    async with ctx.sessions() as session:
        return await event_of_measure(session, event_id)
