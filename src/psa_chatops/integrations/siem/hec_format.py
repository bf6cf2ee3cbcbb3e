"""Splunk HTTP Event Collector events (``POST /services/collector/event``), pure.

One event is ``{"time", "host", "source", "sourcetype", "index"?, "event": {...}, "fields": {...}}``. ``time`` is
epoch seconds with milliseconds; ``event`` is the JSON object Splunk indexes (search it with ``spath`` or as
``_json``); ``fields`` are indexed fields, which HEC only accepts as strings (or lists of strings), so only
short keys that searches filter on go there. ``idempotency_key`` is among them: HEC has no de-duplication of its
own, and the outbox delivers at least once, so ``| dedup idempotency_key`` removes a resent event.

A batch is the events' JSON objects one after another, separated by newlines, which HEC accepts in one request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from psa_chatops.integrations.siem.record import SiemRecord


def hec_event(
    record: SiemRecord, *, host: str, source: str, sourcetype: str, index: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "time": round(record.occurred_at.timestamp(), 3),
        "host": host,
        "source": source,
        "sourcetype": sourcetype,
    }
    if index:
        event["index"] = index
    event["event"] = event_body(record)
    fields = {
        "event_type": record.event_type,
        "severity": record.severity,
        "category": record.category,
        "idempotency_key": record.idempotency_key,
    }
    if record.customer_id:
        fields["customer_id"] = record.customer_id
    if record.ticket_number is not None:
        fields["ticket_number"] = str(record.ticket_number)
    event["fields"] = fields
    return event


def event_body(record: SiemRecord) -> dict[str, Any]:
    """What Splunk indexes: a summary line, the severity, and the event and ticket as the outbox holds them."""
    body: dict[str, Any] = {
        "message": record.message,
        "severity": record.severity,
        "action": record.action,
        "event_type": record.event_type,
        "event_id": record.event_id,
        "occurred_at": record.occurred_at.isoformat().replace("+00:00", "Z"),
        "actor": record.actor,
        "correlation_id": record.correlation_id,
        "customer_id": record.customer_id,
        "host": record.host,
        "ticket": dict(record.ticket) if record.ticket is not None else None,
        "data": dict(record.data) if record.data is not None else None,
    }
    if record.alert is not None:
        body["alert"] = {
            "provider": record.alert.provider,
            "alert_id": record.alert.alert_id,
            "severity": record.alert.severity,
            "threat_type": record.alert.threat_type,
            "title": record.alert.title,
            "affected_asset": record.alert.asset,
        }
    return body


def hec_body(events: Iterable[dict[str, Any]]) -> bytes:
    """Newline-separated JSON events: one HEC request for a whole batch."""
    return b"".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for e in events)
