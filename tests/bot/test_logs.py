"""Structured logs: one JSON object per line, the request id on every line of a request, secrets redacted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from psa_chatops.bot.logs import REQUEST_ID, JsonFormatter, configure_logging, redact, stop_logging
from psa_chatops.bot.settings import Settings


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("token=xoxb-1234-5678-abcdefghijkl", "xoxb-1234"),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGci"),
        ("connect postgresql+asyncpg://psa:s3cr3t@db/psa", "s3cr3t"),
        ('{"api_key": "psa_live_abcdef"}', "psa_live_abcdef"),
        ("password=hunter2&user=x", "hunter2"),
        ("GET /api/v1/tickets with psa_abcdefghij_S3cretPart-of_the_key", "S3cretPart"),
    ],
)
def test_redact_removes_secrets(text: str, leak: str) -> None:
    assert leak not in redact(text)
    assert "REDACTED" in redact(text)


def test_json_line_carries_request_id_and_extra_fields() -> None:
    record = logging.LogRecord("psa", logging.INFO, __file__, 1, "sent %s", ("xoxb-99-secret",), None)
    record.route = "/healthz"
    token = REQUEST_ID.set("req-42")
    try:
        line = JsonFormatter().format(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-42"
    assert entry["route"] == "/healthz"
    assert entry["level"] == "info"
    assert "xoxb-99-secret" not in line


def test_settings_never_show_secrets() -> None:
    settings = Settings(webhook_signing_secret=SecretStr("whsec-very-secret"))
    assert "whsec-very-secret" not in repr(settings)
    assert "whsec-very-secret" not in str(settings.model_dump())
    url = Settings(database_url="postgresql+asyncpg://psa:pw123@db:5432/psa").redacted_database_url()
    assert "pw123" not in url


def test_records_are_written_by_a_background_thread_with_the_callers_context(tmp_path: Path) -> None:
    """The request id and the traceback are taken on the calling thread; the line is written by the listener."""
    path = tmp_path / "psa.log"
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO", "json", path=str(path))
    token = REQUEST_ID.set("req-42")
    try:
        logging.getLogger("psa_chatops.test").info("hello %s", "world", extra={"route": "/x"})
        try:
            raise ValueError("boom password=hunter2")
        except ValueError:
            logging.getLogger("psa_chatops.test").exception("failed")
    finally:
        REQUEST_ID.reset(token)
        stop_logging()
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert (first["msg"], first["request_id"], first["route"]) == ("hello world", "req-42", "/x")
    assert second["request_id"] == "req-42"
    assert "ValueError" in second["exc"]
    assert "hunter2" not in second["exc"]
