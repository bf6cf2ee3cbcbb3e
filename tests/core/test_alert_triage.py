"""Alert triage rules, pure: what an alert becomes, severity -> priority, asset matching, correlation keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from psa_chatops.core import events as ev
from psa_chatops.core.alert_triage import (
    DEFAULT_PRIORITIES,
    AlertRecord,
    Outcome,
    correlation_key,
    decide,
    has_machine,
    host_names,
    is_duplicate,
    match_asset,
    priority_for,
    provider_slug,
    ticket_title,
)
from psa_chatops.core.alerts import AlertAction, AlertClassification, AlertSeverity, AlertSignal, AlertStatus
from psa_chatops.core.directory import Asset
from psa_chatops.core.priorities import Priority

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
SIGNAL = AlertSignal(
    provider="rocketcyber",
    alert_id="RC-1",
    severity=AlertSeverity.HIGH,
    threat_type="ransomware",
    title="Ransomware detected",
    affected_asset="WS-042",
    customer_ref="CUST-789",
)
RECORD = AlertRecord(
    provider="rocketcyber",
    alert_id="RC-1",
    severity=AlertSeverity.HIGH,
    threat_type="ransomware",
    title="Ransomware detected",
    first_seen=T0,
    last_seen=T0,
    count=1,
    action=AlertAction.CREATE_TICKET,
    status=AlertStatus.NEW,
    customer_id="CUST-789",
    ticket_number=12000,
)
ASSETS = [
    Asset("A-1", "CUST-789", "WS-042", "ws-042.corp.local"),
    Asset("A-2", "CUST-789", "Fileserver", "fs01.corp.local"),
    Asset("A-3", "CUST-789", "Printer", "10.0.0.7"),
]


def test_default_severity_mapping() -> None:
    assert dict(DEFAULT_PRIORITIES) == {
        AlertSeverity.CRITICAL: Priority.CRITICAL,
        AlertSeverity.HIGH: Priority.HIGH,
        AlertSeverity.MEDIUM: Priority.MEDIUM,
        AlertSeverity.LOW: Priority.LOW,
        AlertSeverity.INFORMATIONAL: Priority.LOW,
    }


def test_a_customer_override_wins_for_the_severities_it_names() -> None:
    overrides = {AlertSeverity.HIGH: Priority.CRITICAL}

    assert priority_for(AlertSeverity.HIGH, overrides) is Priority.CRITICAL
    assert priority_for(AlertSeverity.MEDIUM, overrides) is Priority.MEDIUM


@pytest.mark.parametrize(
    ("signal", "existing", "customer", "correlated", "expected"),
    [
        (SIGNAL, None, "CUST-789", None, Outcome.NEW_TICKET),
        (SIGNAL, RECORD, "CUST-789", None, Outcome.DUPLICATE),
        (replace(SIGNAL, action=AlertAction.IGNORE), RECORD, "CUST-789", None, Outcome.DUPLICATE),
        (replace(SIGNAL, action=AlertAction.IGNORE), None, None, None, Outcome.IGNORED),
        (replace(SIGNAL, action=AlertAction.NOTIFY_ONLY), None, "CUST-789", RECORD, Outcome.NOTIFY_ONLY),
        (SIGNAL, None, None, None, Outcome.TRIAGE),
        (SIGNAL, None, "CUST-789", replace(RECORD, alert_id="RC-0"), Outcome.CORRELATED),
        # recorded without a ticket, now asked for one: it gets its ticket
        (
            SIGNAL,
            replace(RECORD, ticket_number=None, action=AlertAction.NOTIFY_ONLY),
            "CUST-789",
            None,
            Outcome.NEW_TICKET,
        ),
    ],
)
def test_what_an_alert_becomes(
    signal: AlertSignal,
    existing: AlertRecord | None,
    customer: str | None,
    correlated: AlertRecord | None,
    expected: Outcome,
) -> None:
    decision = decide(signal, existing=existing, customer_id=customer, correlated=correlated)

    assert decision.outcome is expected
    assert decision.opens_ticket is (expected in (Outcome.NEW_TICKET, Outcome.TRIAGE))
    assert decision.notifies is (expected not in (Outcome.DUPLICATE, Outcome.IGNORED))


def test_a_duplicate_and_a_correlated_alert_name_their_ticket() -> None:
    duplicate = decide(SIGNAL, existing=RECORD, customer_id="CUST-789", correlated=None)
    joined = decide(SIGNAL, existing=None, customer_id="CUST-789", correlated=replace(RECORD, ticket_number=12001))

    assert (duplicate.ticket_number, joined.ticket_number) == (12000, 12001)


def test_is_duplicate() -> None:
    assert not is_duplicate(SIGNAL, None)
    assert is_duplicate(SIGNAL, RECORD)
    assert not is_duplicate(SIGNAL, replace(RECORD, ticket_number=None))
    assert is_duplicate(replace(SIGNAL, action=AlertAction.NOTIFY_ONLY), replace(RECORD, ticket_number=None))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("WS-042", "A-1"),  # the asset's name
        ("ws-042.corp.local", "A-1"),  # its FQDN, any case
        ("WS-042.other.example", "A-1"),  # a short name match on another domain
        ("FS01", "A-2"),  # the short hostname
        ("fileserver", "A-2"),
        ("10.0.0.7", "A-3"),  # an IP address is matched whole
        ("10.0.0", None),
        ("ws-043", None),
        ("", None),
    ],
)
def test_assets_match_by_name_hostname_or_short_name(name: str, expected: str | None) -> None:
    found = match_asset(name, ASSETS)

    assert (found.id if found else None) == expected


def test_two_short_name_matches_are_as_good_as_none() -> None:
    twins = [*ASSETS, Asset("A-9", "CUST-789", "ws-042-old", "ws-042.branch.local")]

    assert match_asset("ws-042.hq.local", twins) is None
    assert match_asset("ws-042.corp.local", twins) is not None  # the exact FQDN still decides


def test_host_names() -> None:
    assert host_names(" WS-042.Corp.Local. ") == ("ws-042.corp.local", "ws-042")
    assert host_names("2001:db8::1") == ("2001:db8::1", "2001:db8::1")


def test_correlation_keys_group_machine_and_threat_per_customer() -> None:
    by_asset = correlation_key("CUST-789", asset_id="A-1", affected_asset="WS-042", threat="Ransomware ")
    by_host = correlation_key("CUST-789", asset_id=None, affected_asset="ws-042.corp.local", threat="ransomware")

    assert by_asset == "CUST-789|asset:A-1|ransomware"
    assert by_host == "CUST-789|host:ws-042|ransomware"
    assert correlation_key(None, asset_id=None, affected_asset="WS-042", threat="x") == "-|host:ws-042|x"
    assert not has_machine(replace(SIGNAL, affected_asset="  "))


def test_titles_and_provider_slugs() -> None:
    assert ticket_title(SIGNAL) == "Ransomware detected"
    assert ticket_title(replace(SIGNAL, title="  ")) == "ransomware - WS-042"
    assert ticket_title(replace(SIGNAL, title="", affected_asset=None)) == "ransomware"
    long = ticket_title(replace(SIGNAL, title="x" * 300))
    assert len(long) == 200
    assert long.endswith("…")
    assert provider_slug(" Barracuda XDR ") == "barracuda-xdr"
    assert provider_slug("Microsoft_Defender") == "microsoft-defender"


def test_alert_events_round_trip_through_json() -> None:
    link = RECORD.link()
    events: list[ev.Event] = [
        ev.AlertReceived(number=12000, occurred_at=T0, alert=link, correlated=True),
        ev.AlertClassified(number=12000, occurred_at=T0, alert=link, classification=AlertClassification.FALSE_POSITIVE),
    ]

    for event in events:
        back = ev.from_payload(event.type, number=12000, occurred_at=T0, payload=ev.to_payload(event))
        assert back == event
