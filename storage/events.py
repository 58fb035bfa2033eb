"""Events of event measures, and the lookup that attendance reports start from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import RuleViolation
from domain.measures import EventTerms, MeasureTerms
from storage.catalog import load_terms
from storage.models import Measure
from storage.models.events import Event


@dataclass(frozen=True)
class EventOfMeasure:
    """An event with the measure it belongs to and that measure's terms (late report days,
    cap, receipt deadline): everything an attendance report is judged against."""

    event: Event
    measure: Measure
    terms: MeasureTerms

    @property
    def event_terms(self) -> EventTerms:
        return EventTerms(self.event.starts_at, self.event.ends_at, self.event.points)


async def event_of_measure(session: AsyncSession, event_id: str) -> EventOfMeasure:
    """The event a verified QR payload names. An event that no longer exists (or never did,
    under a valid signature from a wrongly configured key) is `invalid_qr`, like any bad code."""
    event = await session.get(Event, event_id)
    measure = None if event is None else await session.get(Measure, event.measure_id)
    if event is None or measure is None:
        raise RuleViolation("invalid_qr", "this QR code names no known event", status=422)
    return EventOfMeasure(event, measure, await load_terms(session, measure))


async def events_of(session: AsyncSession, measure_id: str) -> list[Event]:
    rows = await session.execute(
        select(Event).where(Event.measure_id == measure_id).order_by(Event.starts_at, Event.id)
    )
    return list(rows.scalars())
