"""Events of event measures (SPEC §2): what residents attend and report with a QR code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class Event(Base):
    """One event of an event measure. The QR payload is not stored: it is signed on demand
    from the event ID and `qr_expires_at`, so the key can live only in the settings."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    measure_id: Mapped[str] = mapped_column(ForeignKey("measures.id"), index=True)
    municipality_code: Mapped[str] = mapped_column(String(6))
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    points: Mapped[int]
    qr_expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
