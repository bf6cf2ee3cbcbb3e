"""Elastic Common Schema documents and the bulk API's NDJSON body, pure.

Each event becomes ``{"create": {"_index": <index>, "_id": <idempotency key>}}`` and one ECS document. ``create``
(not ``index``) because it is the only operation data streams accept, and because it makes the outbox's
at-least-once delivery exactly-once in Elastic: a resent row has the same ``_id`` and answers 409, which the
notifier counts as delivered.

Field choices (every field exists in ECS; the tests check them against ECS's field list and allowed values):

- ``event.kind`` is ``alert`` for alert events, ``event`` for ticket events; ``event.category`` is
  ``intrusion_detection`` (plus ``malware`` for malware-like threats, as Elastic's own SentinelOne integration
  files them) with ``event.type`` ``info`` for alerts. ECS has no category for IT
  service management, so ticket events use ``configuration`` with ``event.type`` ``creation``/``change``, the
  closest allowed values, which keeps them valid for Elastic's own rules and dashboards.
- ``event.severity`` is Elastic Security's risk scale: critical 99, high 73, medium 47, low 21, informational 1.
- ``rule.*`` names what raised an alert (title, threat type, provider); ``host.name`` is the asset;
  ``organization.id`` the customer; ``user.id`` the actor; ``labels`` the ticket's keywords.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from psa_chatops.integrations.siem.record import SiemRecord

ECS_VERSION = "8.11.0"
RISK_SCORE = {"critical": 99, "high": 73, "medium": 47, "low": 21, "informational": 1}
MALWARE_THREATS = frozenset({"malware", "ransomware", "trojan", "virus", "worm", "spyware", "adware", "rootkit"})
_CREATION_EVENTS = frozenset({"TicketOpened"})


def ecs_document(record: SiemRecord, *, dataset: str = "psa_chatops.events") -> dict[str, Any]:
    document: dict[str, Any] = {
        "@timestamp": record.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "ecs": {"version": ECS_VERSION},
        "message": record.message,
        "event": _event(record, dataset),
        "labels": _labels(record),
    }
    if record.host:
        document["host"] = {"name": record.host} | ({"ip": [record.host_ip]} if record.host_ip else {})
        document["related"] = {"hosts": [record.host]}
    if record.customer_id:
        document["organization"] = {"id": record.customer_id}
    if record.actor:
        document["user"] = {"id": record.actor}
    if record.alert is not None:
        rule = {"name": record.alert.title or record.alert.threat_type, "ruleset": record.alert.provider}
        rule["category"] = record.alert.threat_type
        document["rule"] = {k: v for k, v in rule.items() if v}
        document["observer"] = {"vendor": record.alert.provider, "type": "soc"}
    if record.correlation_id:
        document["trace"] = {"id": record.correlation_id}
    return document


def _event(record: SiemRecord, dataset: str) -> dict[str, Any]:
    if record.alert is not None:
        threat = (record.alert.threat_type or "").lower()
        categories = ["intrusion_detection"] + (["malware"] if threat in MALWARE_THREATS else [])
        kind, types = "alert", ["info"]  # the one type both categories expect
    else:
        categories = ["configuration"]
        kind, types = "event", ["creation" if record.event_type in _CREATION_EVENTS else "change"]
    return {
        "kind": kind,
        "category": categories,
        "type": types,
        "action": record.action,
        "severity": RISK_SCORE[record.severity],
        "id": record.event_id,
        "dataset": dataset,
        "provider": record.alert.provider if record.alert is not None else "psa-chatops",
    }


def _labels(record: SiemRecord) -> dict[str, str]:
    """ECS labels are flat keyword pairs: only strings, keys without dots."""
    ticket = record.ticket or {}
    labels = {
        "event_type": record.event_type,
        "severity": record.severity,
        "ticket_number": None if record.ticket_number is None else str(record.ticket_number),
        "priority": ticket.get("priority"),
        "status": ticket.get("status"),
        "ticket_title": record.title,
        "alert_id": record.alert.alert_id if record.alert else None,
        "threat_type": record.alert.threat_type if record.alert else None,
        "classification": record.classification,
    }
    return {k: str(v) for k, v in labels.items() if v is not None and v != ""}


def bulk_body(index: str, documents: Iterable[tuple[str, dict[str, Any]]]) -> bytes:
    """The ``_bulk`` NDJSON for ``(document id, document)`` pairs: an action line and a source line each, and the
    final newline the bulk API requires."""
    lines = []
    for document_id, document in documents:
        lines.append(_line({"create": {"_index": index, "_id": document_id}}))
        lines.append(_line(document))
    return b"".join(lines)


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
