"""Structured JSON logs with the request id on every line of a request, and secrets redacted.

The request id lives in a ContextVar that the request-id middleware sets, so any module that logs during the
request gets it without passing it around.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import re
import sys
import threading
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

_SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),  # Slack tokens
    re.compile(r"psa_[a-z0-9]{10}_[A-Za-z0-9_-]+"),  # our API keys
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:password|secret|token|api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"),
    re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)@"),  # credentials in URLs
]


_TRIGGERS = ("xox", "psa_", "bearer", "://", "password", "secret", "token", "api", "key", "authorization")


def redact(text: str) -> str:
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):  # the usual case: nothing that could hold a secret
        return text
    for pattern in _SECRET_PATTERNS:
        if pattern.groups == 0:
            text = pattern.sub("[REDACTED]", text)
        elif pattern.groups == 2:
            text = pattern.sub(r"\1:[REDACTED]@", text)
        else:
            text = pattern.sub(r"\1[REDACTED]", text)
    return text


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_") and key != "request_id":
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        prefix = f"[{request_id}] " if request_id else ""
        return redact(f"{record.levelname:<7} {record.name}: {prefix}{super().format(record)}")


class _Handoff(logging.handlers.QueueHandler):
    """Hands records to the writer thread: formatting and writing happen there, off the event loop. What only the
    calling thread knows (the request id, the traceback) is captured here."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg, record.args = record.getMessage(), None
        record.request_id = REQUEST_ID.get()
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


class _BatchWriter(threading.Thread):
    """Formats and writes queued records in batches every ``interval`` seconds. Waking once per record made the
    writer thread and the event loop trade the GIL thousands of times a second, which halved request throughput;
    one wake-up per batch costs almost nothing. A record waits at most ``interval`` before it is written."""

    def __init__(
        self, records: queue.SimpleQueue[logging.LogRecord], handler: logging.Handler, interval: float
    ) -> None:
        super().__init__(name="psa-log-writer", daemon=True)
        self._records, self._handler, self._interval = records, handler, interval
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self._interval):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                record = self._records.get_nowait()
            except queue.Empty:
                break
            self._handler.handle(record)
        self._handler.flush()

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        self._handler.close()


_writer: _BatchWriter | None = None
FLUSH_SECONDS = 0.1


def configure_logging(level: str = "INFO", fmt: str = "json", *, path: str | None = None) -> None:
    """One line per record to stderr (or ``path``), written in batches by a background thread: a slow terminal or
    disk never stalls request handling. ``stop_logging`` (registered at exit) writes what is left."""
    global _writer
    stop_logging()
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter("%(message)s"))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _writer = _BatchWriter(records, handler, FLUSH_SECONDS)
    _writer.start()
    atexit.register(stop_logging)
    root = logging.getLogger()
    root.handlers[:] = [_Handoff(records)]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "sqlalchemy.engine", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def stop_logging() -> None:
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None
