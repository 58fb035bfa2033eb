"""Process logs: one JSON object per line with the trace it belongs to, My Numbers redacted.

A log line that reaches a collector can be joined to its trace (`trace_id`, `span_id`), so an
operator goes from an alert to the request, workflow and provider call behind it. Whatever a
line carries (message, arguments, extra fields, a traceback), a 12-digit number that reads as a
My Number is replaced before it is written: the hub never writes one, and a careless log call
elsewhere must not be the exception.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from domain.identifiers import redact_my_numbers

# Attributes every LogRecord has; anything else on a record came from `extra=` and is kept.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_my_numbers(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_my_numbers(str(value))


def trace_fields() -> dict[str, str]:
    """The current span's IDs in the W3C form collectors index (32 and 16 hex digits)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "service", "trace_id", "span_id", ...extra}`."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_my_numbers(record.getMessage()),
            "service": self.service,
        }
        entry.update(trace_fields())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = _redact(value)
        if record.exc_info:
            entry["exception"] = redact_my_numbers(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """The human-readable form for a terminal, with the same redaction and the trace ID."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = trace_fields()
        if ids:
            line += f" trace_id={ids['trace_id']}"
        return redact_my_numbers(line)


def configure_logging(service: str, *, fmt: str = "text", level: str = "INFO") -> None:
    """Route every logger (uvicorn's and Temporal's included) through one redacting handler."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    own_handlers = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and logger.handlers
    ]  # a library's own handler would write around the redaction
    for named in [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]:
        own_handlers.append(named)
    for named in own_handlers:
        named.handlers.clear()
        named.propagate = True
    logging.captureWarnings(True)  # warnings quote values too: same handler, same redaction
