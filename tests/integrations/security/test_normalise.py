"""Every vendor sample of the shared corpus normalises to the fields a ticket needs; malformed payloads name the
offending field with a JSON pointer; junk never escapes as anything but ``AlertPayloadError``."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psa_chatops.core.alerts import AlertSeverity, AlertSignal
from psa_chatops.integrations.security import PROVIDERS, AlertPayloadError, normalise
from tests.conftest import SHARED_CORPORA

SECURITY = SHARED_CORPORA / "security"
pytestmark = pytest.mark.skipif(not SECURITY.is_dir(), reason=f"the shared corpora are not at {SECURITY}")


def sample(path: str) -> Any:
    return json.loads((SECURITY / path).read_text(encoding="utf-8"))


def fields(signal: AlertSignal) -> dict[str, Any]:
    return {
        "provider": signal.provider,
        "alert_id": signal.alert_id,
        "severity": signal.severity,
        "threat_type": signal.threat_type,
        "title": signal.title,
        "affected_asset": signal.affected_asset,
        "vendor_account": signal.vendor_account,
        "device_id": signal.device_id,
        "observed_at": signal.observed_at,
    }


def at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# --- the corpus -----------------------------------------------------------------------------------------------------


def test_a_mitigated_sentinelone_trojan() -> None:
    payload = sample("sentinelone/threat_v2.1_trojan_mitigated.json")
    (signal,) = normalise("sentinelone", payload)
    assert fields(signal) == {
        "provider": "sentinelone",
        "alert_id": "1234567890123456789",
        "severity": AlertSeverity.HIGH,  # confidenceLevel malicious
        "threat_type": "trojan",
        "title": "Trojan: default.exe",
        "affected_asset": "test-LINUX",
        "vendor_account": "1234567890123456789",  # the site
        "device_id": "1234567890123456789",  # the agent
        "observed_at": at(2022, 4, 6, 8, 45, 53, 968000),
    }
    assert signal.raw == payload


def test_a_sentinelone_malware_with_mitre_indicators() -> None:
    (signal,) = normalise("sentinelone", sample("sentinelone/threat_v2.1_malware_with_indicators_mitre.json"))
    assert (signal.severity, signal.threat_type, signal.title) == (AlertSeverity.HIGH, "malware", "Malware: Threats")
    assert signal.observed_at == at(2022, 4, 6, 8, 57, 34, 444000)
    assert signal.description == "test/path/user"


def test_a_sentinelone_unified_alert() -> None:
    payload = sample("sentinelone/uam_alert_by_id_response.json")
    (signal,) = normalise("sentinelone", payload)
    assert fields(signal) == {
        "provider": "sentinelone",
        "alert_id": "01tc8est-test-7a6f-beeb-eddummya986",
        "severity": AlertSeverity.MEDIUM,
        "threat_type": "malware",
        "title": "hhau2.txt detected as Malware",
        "affected_asset": "TEST",
        "vendor_account": "123456789101112",
        "device_id": None,
        "observed_at": at(2026, 2, 24, 11, 34, 37, 315000),
    }
    assert signal.raw == payload["data"]["alert"]


def test_a_graph_defender_alert() -> None:
    payload = sample("microsoft_graph_defender/graph_security_alert_v2_mde.json")
    (signal,) = normalise("defender", payload)
    assert fields(signal) == {
        "provider": "defender",
        "alert_id": "da637578995287051192_756343937",
        "severity": AlertSeverity.LOW,
        "threat_type": "defense_evasion",
        "title": "Suspicious execution of hidden file",
        "affected_asset": "tempDns",
        "vendor_account": "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c",
        "device_id": "73e7e2de709dff64ef64b1d0c30e67fab63279db",
        "observed_at": at(2021, 4, 26, 7, 45, 50, 116000),
    }
    assert signal.raw == payload


def test_a_defender_for_endpoint_alert() -> None:
    (signal,) = normalise("defender", sample("microsoft_graph_defender/mde_api_alert_with_evidence.json"))
    assert fields(signal) == {
        "provider": "defender",
        "alert_id": "da637472900382838869_1364969609",
        "severity": AlertSeverity.LOW,
        "threat_type": "execution",
        "title": "Low-reputation arbitrary code executed by signed executable",
        "affected_asset": "temp123.middleeast.corp.microsoft.com",
        "vendor_account": "a839b112-1253-6432-9bf6-94542403f21c",
        "device_id": "111e6dd8c833c8a052ea231ec1b19adaf497b625",
        "observed_at": at(2021, 1, 26, 20, 31, 32, 956266),
    }


def test_a_graph_page_holds_several_alerts() -> None:
    alert = sample("microsoft_graph_defender/graph_security_alert_v2_mde.json")
    second = {**copy.deepcopy(alert), "id": "da-2", "severity": "high"}
    signals = normalise("defender", {"value": [alert, second], "@odata.nextLink": "https://graph/next"})
    assert [(s.alert_id, s.severity) for s in signals] == [
        ("da637578995287051192_756343937", AlertSeverity.LOW),
        ("da-2", AlertSeverity.HIGH),
    ]


def test_a_sentinelone_threats_page_holds_several() -> None:
    one = sample("sentinelone/threat_v2.1_trojan_mitigated.json")
    two = copy.deepcopy(sample("sentinelone/threat_v2.1_malware_with_indicators_mitre.json"))
    two["id"] = "99"
    two["threatInfo"]["classification"] = "Ransomware"
    signals = normalise("sentinelone", {"data": [one, two], "pagination": {"nextCursor": None}})
    assert [(s.alert_id, s.severity, s.threat_type) for s in signals] == [
        ("1234567890123456789", AlertSeverity.HIGH, "trojan"),
        ("99", AlertSeverity.CRITICAL, "ransomware"),  # malicious ransomware is critical
    ]


def _schema_incident(schema: dict[str, Any]) -> dict[str, Any]:
    """An incident with exactly the properties the RocketCyber v3 OpenAPI document declares."""
    declared = schema["components"]["schemas"]["Incident"]["properties"]
    values = {
        "id": "48311",
        "createdAt": "2026-11-27T21:14:03Z",
        "status": "open",
        "severity": "critical",
        "accountId": "7731",
        "title": "Ransomware canary file modified",
        "description": "A canary file was encrypted on the endpoint.",
    }
    assert set(values) == set(declared)
    return values


def test_a_rocketcyber_incident_as_its_openapi_document_declares_it() -> None:
    schema = sample("rocketcyber/rocketcyber-v3-openapi.unofficial.json")
    incident = _schema_incident(schema)
    required = set(schema["components"]["schemas"]["Incident"]["required"])
    (signal,) = normalise("rocketcyber", {"page": 1, "pageSize": 50, "total": 1, "items": [incident]})
    assert fields(signal) == {
        "provider": "rocketcyber",
        "alert_id": "48311",
        "severity": AlertSeverity.CRITICAL,
        "threat_type": "soc_incident",
        "title": "Ransomware canary file modified",
        "affected_asset": None,
        "vendor_account": "7731",
        "device_id": None,
        "observed_at": at(2026, 11, 27, 21, 14, 3),
    }
    for name in sorted(required):  # every property the schema requires is required here too
        with pytest.raises(AlertPayloadError) as caught:
            normalise("rocketcyber", {"items": [{k: v for k, v in incident.items() if k != name}]})
        assert caught.value.pointer == f"/items/0/{name}"


def test_a_rocketcyber_event_and_a_live_api_incident_rated_by_its_verdicts() -> None:
    event = {
        "id": 9001,
        "timestamp": "2026-11-27T21:15:00Z",
        "severity": "high",
        "type": "Suspicious Network Connection",
        "accountId": 7731,
        "agentId": "agent-17",
        "message": "Outbound connection to a known C2 address",
        "hostname": "WS-CLIENT-042",
    }
    live = {
        "id": 48312,
        "title": "Office 365 login from an unusual country",
        "status": "open",
        "accountId": 7731,
        "publishedAt": "2026-11-27T22:00:00Z",
        "eventSummary": [{"app": "Office 365 Logs", "verdict": "suspicious"}, {"app": "x", "verdict": "malicious"}],
    }
    first, second = normalise("rocketcyber", {"data": [event, live]})
    assert (first.alert_id, first.severity, first.threat_type, first.affected_asset, first.device_id) == (
        "event:9001",
        AlertSeverity.HIGH,
        "suspicious_network_connection",
        "WS-CLIENT-042",
        "agent-17",
    )
    assert (second.alert_id, second.severity, second.threat_type) == ("48312", AlertSeverity.HIGH, "office_365_logs")


def test_a_barracuda_xdr_alert_in_both_spellings() -> None:
    snake = {
        "alert_id": "XDR-2026-004211",
        "alarm_name": "Ransomware behaviour detected",
        "severity": "Critical",
        "account_id": "ACC-1042",
        "account_name": "Müller GmbH",
        "category": "Ransomware",
        "hostname": "WS-CLIENT-042",
        "created_at": "2026-11-27T22:14:03Z",
    }
    camel = {"ticketNumber": 4212, "title": "Brute force", "severity": "low", "accountId": "ACC-7", "endpoint": "SRV1"}
    first, second = normalise("barracuda-xdr", {"alerts": [snake, camel]})
    assert fields(first) == {
        "provider": "barracuda-xdr",
        "alert_id": "XDR-2026-004211",
        "severity": AlertSeverity.CRITICAL,
        "threat_type": "ransomware",
        "title": "Ransomware behaviour detected",
        "affected_asset": "WS-CLIENT-042",
        "vendor_account": "ACC-1042",
        "device_id": None,
        "observed_at": at(2026, 11, 27, 22, 14, 3),
    }
    assert (second.alert_id, second.severity, second.threat_type, second.affected_asset) == (
        "4212",
        AlertSeverity.LOW,
        "alarm",
        "SRV1",
    )


# --- precise errors -------------------------------------------------------------------------------------------------


def _broken(path: str, mutate: Any) -> Any:
    payload = copy.deepcopy(sample(path))
    mutate(payload)
    return payload


@pytest.mark.parametrize(
    ("provider", "payload", "pointer", "message"),
    [
        (
            "sentinelone",
            _broken(
                "sentinelone/threat_v2.1_trojan_mitigated.json", lambda p: p["threatInfo"].update(confidenceLevel=7)
            ),
            "/threatInfo/confidenceLevel",
            "expected malicious, suspicious or n/a",
        ),
        (
            "sentinelone",
            {"data": [{"id": "1", "threatInfo": {"threatName": "x"}}, {"id": "2", "threatInfo": {}}]},
            "/data/1/threatInfo/threatName",
            "required field is missing",
        ),
        (
            "sentinelone",
            _broken("sentinelone/uam_alert_by_id_response.json", lambda p: p["data"]["alert"].update(severity="BAD")),
            "/data/alert/severity",
            "expected one of critical, high, info, informational, low, medium, moderate (any case)",
        ),
        (
            "defender",
            _broken(
                "microsoft_graph_defender/graph_security_alert_v2_mde.json",
                lambda p: p.update(createdDateTime="yesterday"),
            ),
            "/createdDateTime",
            "Input should be a valid datetime or date, input is too short",
        ),
        (
            "defender",
            {"value": [{"id": "a", "title": "t", "severity": "low", "createdDateTime": "2026-01-01T00:00:00Z"}, 5]},
            "/value/1",
            "expected a JSON object (a Defender alert)",
        ),
        ("rocketcyber", {"items": "nope"}, "/items", "expected an array of alerts"),
        ("barracuda-xdr", {"alerts": [{"alert_id": True}]}, "/alerts/0/alert_id", "expected a string or an integer id"),
        ("barracuda-xdr", [], "", "the payload holds no alerts"),
        ("defender", "text", "", "expected a JSON object (a Defender alert or a page of them)"),
        ("crowdstrike", {}, "", "unknown provider 'crowdstrike'; expected one of " + ", ".join(PROVIDERS)),
    ],
)
def test_malformed_payloads_name_the_field(provider: str, payload: Any, pointer: str, message: str) -> None:
    with pytest.raises(AlertPayloadError) as caught:
        normalise(provider, payload)
    assert (caught.value.pointer, caught.value.message) == (pointer, message)


def test_pointers_escape_slashes_and_tildes() -> None:
    payload: dict[str, Any] = {"id": "a", "title": "t", "severity": "low", "createdDateTime": "2026-01-01T00:00:00Z"}
    payload["evidence"] = [{"@odata.type": 5}]
    with pytest.raises(AlertPayloadError) as caught:
        normalise("defender", payload)
    assert caught.value.pointer == "/evidence/0/@odata.type"
    escaped = {"data": [{"id": "1", "threatInfo": {"threatName": "x", "confidenceLevel": "?"}}]}
    with pytest.raises(AlertPayloadError):
        normalise("sentinelone", escaped)
    from psa_chatops.integrations.security.payloads import pointer

    assert pointer("a/b", "c~d", 0) == "/a~1b/c~0d/0"


# --- junk -----------------------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
KEYS = ["id", "threatInfo", "data", "value", "title", "severity", "alerts", "items", "createdDateTime", "accountId"]
NEAR = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6)


@settings(max_examples=200, deadline=None)
@given(provider=st.sampled_from(PROVIDERS), payload=JSON | NEAR)
def test_junk_is_an_alert_payload_error_or_valid_alerts(provider: str, payload: Any) -> None:
    result = outcome(provider, payload)
    if isinstance(result, AlertPayloadError):
        assert result.pointer == "" or result.pointer.startswith("/")
        assert result.message
        _resolves(payload, result.pointer)
    else:
        assert result
        assert all(s.provider == provider and s.alert_id and s.title for s in result)


def outcome(provider: str, payload: Any) -> AlertPayloadError | list[AlertSignal]:
    """The alerts, or the error; any other exception escapes and fails the test."""
    try:
        return normalise(provider, payload)
    except AlertPayloadError as exc:
        return exc


def _resolves(payload: Any, pointer: str) -> None:
    """The pointer leads into the payload, except for its last step (a missing field is named where it belongs)."""
    if not pointer:
        return
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node = payload
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert isinstance(node, dict | list)


def test_every_provider_has_a_module(tmp_path: Path) -> None:
    from psa_chatops.integrations.security import NORMALISERS

    assert tuple(NORMALISERS) == PROVIDERS
