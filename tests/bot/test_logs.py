"""Structured logs: one JSON object per line, the request id on every line of a request, secrets redacted."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr

from psa_chatops.bot.logs import REQUEST_ID, JsonFormatter, redact
from psa_chatops.bot.settings import Settings


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("token=xoxb-1234-5678-abcdefghijkl", "xoxb-1234"),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGci"),
        ("connect postgresql+asyncpg://psa:s3cr3t@db/psa", "s3cr3t"),
        ('{"api_key": "psa_live_abcdef"}', "psa_live_abcdef"),
        ("password=hunter2&user=x", "hunter2"),
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
