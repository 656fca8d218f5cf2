"""Structured JSON logs: one object per line, with job_id and request_id from context.

With tracing on, every line logged inside a span also carries its `trace_id`, so a trace
found in the tracing backend leads to its log lines and back.

The ids live in contextvars, so every line logged while handling a job or a request
carries them without being passed around. Never log secrets or prompt text at INFO.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

import orjson

from services.observability.tracing import current_trace_id

job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed in `extra=` and is emitted.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (job_id := job_id_var.get()) is not None:
            out["job_id"] = job_id
        if (request_id := request_id_var.get()) is not None:
            out["request_id"] = request_id
        if (trace_id := current_trace_id()) is not None:
            out["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-request access lines would double the log volume; the metrics carry that.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
