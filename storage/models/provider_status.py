"""Whether each provider's queue runs or is paused, and why (issue 17).

One row per provider that ever failed or was paused: the run of `pause` failures in a row, the
last failure's code, and when paused, the code of the cause, since when and by whom; resuming
keeps who resumed it and their note. No row means active with nothing to report.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class ProviderStatus(Base):
    __tablename__ = "provider_status"
    provider_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | paused
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_code: Mapped[str | None] = mapped_column(String(40))
    last_failure_detail: Mapped[str | None] = mapped_column(Text)
    last_failure_at: Mapped[datetime | None]
    paused_reason: Mapped[str | None] = mapped_column(String(40))  # a stable code
    paused_detail: Mapped[str | None] = mapped_column(Text)  # the raw cause, or the note
    paused_at: Mapped[datetime | None]
    paused_by: Mapped[str | None] = mapped_column(String(120))
    resumed_at: Mapped[datetime | None]
    resumed_by: Mapped[str | None] = mapped_column(String(120))
    resume_note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
