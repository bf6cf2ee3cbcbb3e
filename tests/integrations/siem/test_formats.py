"""The SIEM wire formats, pure: compared with the real samples in ``../shared/corpora/security/``."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types; only the tests read the ECS schema

from psa_chatops.handlers.ports import Delivery
from psa_chatops.integrations.errors import PermanentDeliveryError
from psa_chatops.integrations.siem.ecs_format import bulk_body, ecs_document
from psa_chatops.integrations.siem.hec_format import hec_body, hec_event
from psa_chatops.integrations.siem.leef_format import LeefHeader, escape_value, leef_event, leef_line
from psa_chatops.integrations.siem.record import to_record
from psa_chatops.integrations.siem.syslog_format import octet_frame, syslog_message
from tests.conftest import SHARED_CORPORA
from tests.integrations.siem.siem_support import alert_event, delivery_for, opened_event

SECURITY = SHARED_CORPORA / "security"
needs_corpus = pytest.mark.skipif(not SECURITY.is_dir(), reason=f"the shared corpora are not at {SECURITY}")


def corpus(*parts: str) -> Path:
    return SECURITY.joinpath(*parts)


# --- a LEEF parser for the tests: strict about the header, unescapes values ----------------------------------------

_HEADER = re.compile(
    r"LEEF:(?P<v>[12]\.0)\|((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|((?:[^|\\]|\\.)*)\|"
)


def parse_leef(line: str) -> tuple[list[str], str, list[tuple[str, str]]]:
    """(header fields, delimiter, [(key, raw value)]) of one LEEF 2.0 line."""
    match = _HEADER.match(line)
    assert match, f"not a LEEF header: {line[:80]!r}"
    rest = line[match.end() :]
    delimiter = "\t"
    declared = re.match(r"(x[0-9A-Fa-f]{2,4}|0x[0-9A-Fa-f]{2,4}|[^=|])\|", rest)
    if declared:
        token = declared.group(1)
        delimiter = chr(int(token.lstrip("0x"), 16)) if len(token) > 1 else token
        rest = rest[declared.end() :]
    pairs, current = [], ""
    escaped = False
    for ch in rest:
        if escaped:
            current += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == delimiter:
            pairs.append(current)
            current = ""
        else:
            current += ch
    pairs.append(current)
    attributes = [tuple(p.split("=", 1)) for p in pairs if p]
    assert all(len(a) == 2 for a in attributes), attributes
    return list(match.groups()[1:]), delimiter, [(k, v) for k, v in attributes]


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), value)


# --- the record -------------------------------------------------------------------------------------------------------


def test_the_record_reads_an_alert_event_envelope() -> None:
    record = to_record(delivery_for(alert_event(), "splunk:main"))
    assert (record.event_type, record.event_id, record.ticket_number) == ("AlertReceived", "12000:1", 12000)
    assert record.severity == "critical"  # the alert's own, not the ticket's priority (high)
    assert record.alert is not None
    assert record.alert.provider == "rocketcyber"
    assert (record.host, record.customer_id, record.category, record.action) == (
        "WS-CLIENT-042",
        "CUST-789",
        "alert",
        "alert-received",
    )
    assert record.message == (
        "critical ransomware alert rocketcyber/RC-2025-1234 on WS-CLIENT-042: alert received (ticket #12000)"
    )


def test_a_ticket_event_takes_its_severity_from_the_priority() -> None:
    record = to_record(delivery_for(opened_event(), "splunk:main", ticket={"priority": "low", "title": "Drucker"}))
    assert (record.severity, record.category, record.alert) == ("low", "new", None)
    assert record.message == "ticket #12000 ticket opened: Drucker"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_id": None}, "no event_id"),
        ({"type": ""}, "no type"),
        ({"occurred_at": "yesterday"}, "occurred_at is not an ISO 8601 time"),
        ({"occurred_at": "2026-11-23T09:15:42"}, "occurred_at is not an ISO 8601 time with offset"),
    ],
)
def test_an_unusable_payload_is_permanent_and_says_why(change: dict[str, Any], reason: str) -> None:
    delivery = delivery_for(opened_event(), "splunk:main")
    broken = Delivery(1, "k", "splunk:main", "", {**delivery.payload, **change})
    with pytest.raises(PermanentDeliveryError, match=reason):
        to_record(broken)


# --- Splunk HEC -------------------------------------------------------------------------------------------------------


@needs_corpus
def test_hec_event_has_the_shape_of_the_collector_samples_and_schema() -> None:
    event = hec_event(
        to_record(delivery_for(alert_event(), "splunk:main")),
        host="psa01",
        source="psa-chatops",
        sourcetype="psa:event",
        index="security",
    )
    sample = json.loads(corpus("splunk_hec", "otel_hec_log_event.json").read_text())
    schema = json.loads(corpus("splunk_hec", "api_evangelist_splunk_hecevent.schema.json").read_text())
    assert set(event) == set(sample) | {"time"}  # host, source, sourcetype, index, event, fields (+ time)
    assert set(event) <= set(schema["properties"])
    assert all(isinstance(event[k], str) for k in ("host", "source", "sourcetype", "index"))
    assert all(isinstance(v, str) for v in event["fields"].values())  # HEC indexed fields are strings
    assert event["time"] == round(datetime(2026, 11, 23, 9, 15, 42, 123000, tzinfo=UTC).timestamp(), 3)
    assert event["event"]["alert"]["alert_id"] == "RC-2025-1234"
    assert event["event"]["ticket"]["number"] == 12000
    assert event["fields"]["idempotency_key"] == delivery_for(alert_event(), "splunk:main").idempotency_key


def test_hec_body_is_one_json_event_per_line() -> None:
    events = [
        hec_event(to_record(delivery_for(alert_event(n), "splunk:main")), host="h", source="s", sourcetype="t")
        for n in (1, 2, 3)
    ]
    body = hec_body(events)
    assert body.endswith(b"\n")
    assert [json.loads(line) for line in body.decode().splitlines()] == events
    assert "index" not in events[0]  # no index: the token's default


# --- Elastic Common Schema -------------------------------------------------------------------------------------------


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and key != "labels":
            flat |= _flatten(item, f"{name}.")
        else:
            flat[name] = item
    return flat


@needs_corpus
@pytest.mark.parametrize("event", [alert_event(), alert_event(asset="10.0.0.7", threat="phishing"), opened_event()])
def test_ecs_document_uses_only_ecs_fields_and_allowed_values(event: Any) -> None:
    document = ecs_document(to_record(delivery_for(event, "elastic:main")))
    with corpus("ecs", "ecs_fields.csv").open(newline="") as handle:
        fields = {row["Field"]: row["Type"] for row in csv.DictReader(handle)}
    flat = _flatten(document)
    assert set(flat) <= set(fields), set(flat) - set(fields)
    schema = yaml.safe_load(corpus("ecs", "ecs_schema_event.yml").read_text())[0]["fields"]
    allowed = {f["name"]: {v["name"]: v for v in f.get("allowed_values", [])} for f in schema}
    assert document["event"]["kind"] in allowed["kind"]
    for category in document["event"]["category"]:
        expected = allowed["category"][category]["expected_event_types"]
        assert set(document["event"]["type"]) <= set(expected), (category, document["event"]["type"])
    assert isinstance(document["event"]["severity"], int)  # ECS: long
    assert all(isinstance(v, str) for v in document["labels"].values())  # ECS: keyword pairs


@needs_corpus
def test_ecs_alert_document_lines_up_with_elastics_own_alert_document() -> None:
    ours = ecs_document(to_record(delivery_for(alert_event(), "elastic:main")))
    theirs = json.loads(corpus("ecs", "ecs_alert_document_sentinelone_threat.json").read_text())
    assert ours["event"]["kind"] == theirs["event"]["kind"] == "alert"
    assert "malware" in ours["event"]["category"]
    assert theirs["event"]["category"] == ["malware"]
    assert ours["event"]["type"] == theirs["event"]["type"] == ["info"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ours["@timestamp"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", theirs["@timestamp"])
    assert ours["ecs"]["version"].split(".")[0] == theirs["ecs"]["version"].split(".")[0]
    assert ours["host"]["name"] == "WS-CLIENT-042"
    assert isinstance(theirs["host"]["name"], str)
    assert ours["organization"] == {"id": "CUST-789"}
    assert ours["rule"] == {"name": "Ransomware behaviour detected", "ruleset": "rocketcyber", "category": "ransomware"}
    assert ours["event"]["severity"] == 99


def test_bulk_body_pairs_a_create_action_with_each_document() -> None:
    documents = [(f"id-{n}", ecs_document(to_record(delivery_for(alert_event(n), "elastic:main")))) for n in (1, 2)]
    lines = [json.loads(line) for line in bulk_body("logs-psa-default", documents).decode().splitlines()]
    assert lines[0] == {"create": {"_index": "logs-psa-default", "_id": "id-1"}}
    assert lines[1] == documents[0][1]
    assert lines[2] == {"create": {"_index": "logs-psa-default", "_id": "id-2"}}
    assert bulk_body("i", documents).endswith(b"\n")


# --- LEEF 2.0 and syslog ----------------------------------------------------------------------------------------------


@needs_corpus
def test_leef_rendering_reproduces_every_real_sample_line_exactly() -> None:
    """Parse each Trend Micro line, unescape its values, render them again: byte for byte the same line."""
    lines = corpus("qradar_leef", "metron_sample.leef").read_text().splitlines()
    assert len(lines) == 4
    for line in lines:
        header, delimiter, attributes = parse_leef(line)
        rendered = leef_line(LeefHeader(*header), [(k, unescape(v)) for k, v in attributes], delimiter=delimiter)
        assert rendered == line


@needs_corpus
def test_leef_attributes_parse_like_the_reference_parser_did() -> None:
    """Apache Metron's parsed output of the same lines: our parser (and so our escaping) agrees on every value."""
    raw = corpus("qradar_leef", "metron_integration_leef_raw.txt").read_text().splitlines()
    parsed = [json.loads(line) for line in corpus("qradar_leef", "metron_integration_leef_parsed.ndjson").open()]
    for line, expected in zip(raw, parsed, strict=True):
        header, _, attributes = parse_leef(line)
        assert header == [expected["DeviceVendor"], expected["DeviceProduct"], expected["DeviceVersion"],
                          expected["DeviceEvent"]]  # fmt: skip
        values = dict(attributes)
        for key in ("cat", "name", "usrName", "dvchost", "act", "request"):
            if key in expected:
                assert values[key].replace("\\/", "/") == expected[key].replace("\\/", "/")


def test_leef_event_of_an_alert() -> None:
    line = leef_event(to_record(delivery_for(alert_event(), "qradar:q")), vendor="PSA|Co", product="psa", version="1")
    header, delimiter, attributes = parse_leef(line)
    assert header == ["PSA\\|Co", "psa", "1", "AlertReceived"]
    assert delimiter == "\t"
    values = dict(attributes)
    assert values["devTime"] == "2026-11-23T09:15:42.123+0000"
    assert values["devTimeFormat"] == "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
    assert (values["sev"], values["cat"], values["identHostName"]) == ("10", "alert", "WS-CLIENT-042")
    assert (values["provider"], values["alertId"], values["ticket"]) == ("rocketcyber", "RC-2025-1234", "12000")
    assert "src" not in values


def test_leef_puts_an_ip_asset_in_src_and_escapes_values() -> None:
    record = to_record(delivery_for(alert_event(asset="10.0.0.7"), "qradar:q"))
    values = dict(parse_leef(leef_event(record, vendor="v", product="p", version="1"))[2])
    assert values["src"] == "10.0.0.7"
    assert "identHostName" not in values
    assert escape_value("a\\b\tc\nd=e") == "a\\\\b\\tc\\nd=e"
    assert escape_value("x^y", "^") == "x\\^y"


def test_a_declared_delimiter_is_in_the_header() -> None:
    line = leef_line(LeefHeader("v", "p", "1", "E"), [("a", "1^2"), ("b", "3")], delimiter="^")
    assert line == "LEEF:2.0|v|p|1|E|^|a=1\\^2^b=3"
    assert parse_leef(line)[1:] == ("^", [("a", "1\\^2"), ("b", "3")])
    with pytest.raises(ValueError, match="not \\[A-Za-z0-9_\\]"):
        leef_line(LeefHeader("v", "p", "1", "E"), [("bad key", "x")])


def test_syslog_message_is_rfc5424_with_an_octet_count() -> None:
    message = syslog_message(
        "LEEF:2.0|v|p|1|E|a=b",
        timestamp=datetime(2026, 11, 23, 10, 15, 42, 123456, tzinfo=UTC),
        hostname="psa host 01",
        app_name="psa-chatops",
        msgid="AlertReceived",
        facility=16,
        severity=2,
    )
    assert message == b"<130>1 2026-11-23T10:15:42.123Z psahost01 psa-chatops - AlertReceived - LEEF:2.0|v|p|1|E|a=b"
    assert octet_frame(message) == str(len(message)).encode() + b" " + message
    assert octet_frame("ä".encode()) == b"2 \xc3\xa4"  # octets, not characters


def test_a_classified_alert_carries_its_verdict() -> None:
    from psa_chatops.core import events as ev
    from psa_chatops.core.alerts import AlertClassification

    received = alert_event()
    assert isinstance(received, ev.AlertReceived)
    event = ev.AlertClassified(
        number=12000, occurred_at=received.occurred_at, alert=received.alert,
        classification=AlertClassification.FALSE_POSITIVE,
    )  # fmt: skip
    record = to_record(delivery_for(event, "elastic:main"))
    assert record.classification == "false_positive"
    assert ecs_document(record)["labels"]["classification"] == "false_positive"
    assert ("classification", "false_positive") in parse_leef(leef_event(record, vendor="v", product="p", version="1"))[
        2
    ]
