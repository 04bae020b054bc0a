"""Structured JSON logging; every line carries the event id and instance id in scope."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_context: ContextVar[dict[str, Any]] = ContextVar("ec2_isolation_log_context", default={})  # noqa: B039

logger = logging.getLogger("ec2_isolation")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, message, the context fields and any ``fields=`` extra."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # The context is taken when the record is made (see ``log``), so late formatting still has it.
        payload.update(getattr(record, "context", None) or _context.get())
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, sort_keys=False)


def setup_logging(level: str) -> None:
    """Put the JSON formatter on the root handlers (the Lambda runtime installs one) or add one."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    logger.setLevel(level)
    # botocore's own DEBUG output would leak request bodies; keep it at WARNING.
    logging.getLogger("botocore").setLevel(logging.WARNING)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (event_id, instance_id, ...) to every log line written inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def log(level: int, message: str, *, exc_info: bool = False, **fields: Any) -> None:
    """Log ``message`` with ``fields`` as top-level JSON keys (and the traceback when ``exc_info``)."""
    logger.log(level, message, exc_info=exc_info, extra={"fields": fields, "context": _context.get()})
