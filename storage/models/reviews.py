"""Attendance reports of event measures and the reviews municipality staff decide."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class AttendanceReport(Base):
    """One resident's report of one event (one per resident per event)."""

    __tablename__ = "attendance_reports"
    __table_args__ = (UniqueConstraint("event_id", "mykey_id"),)
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    measure_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    mykey_id: Mapped[str] = mapped_column(String(8))
    reported_at: Mapped[datetime]
    timing: Mapped[str] = mapped_column(String(16))  # on_time | late
    lateness_s: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # accepted | pending_review | rejected
    grant_id: Mapped[str | None] = mapped_column(String(60))
    review_id: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime]


class Review(Base):
    """A decision municipality staff owe: a late report or a review-required application."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_municipality_status", "municipality_code", "status"),)
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # late_report | application
    municipality_code: Mapped[str] = mapped_column(String(6))
    measure_id: Mapped[str] = mapped_column(String(40), index=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"))
    workflow_id: Mapped[str] = mapped_column(String(120))
    event_id: Mapped[str | None] = mapped_column(String(40))
    report_id: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None]
    remind_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    decide_by: Mapped[datetime]
    default_decision: Mapped[str] = mapped_column(String(8))  # approve | reject
    created_at: Mapped[datetime]
