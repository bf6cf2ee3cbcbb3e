"""Report mails (``cards.email.report``): the digest and the customer summary in both languages, escaped."""

from __future__ import annotations

from typing import Any

from psa_chatops.cards.email.report import render

PUBLIC_URL = "https://psa.msp.example"


def digest(**changes: Any) -> dict[str, Any]:
    item = {
        "number": 12000,
        "title": "Mailserver <down>",
        "customer_id": "CUST-789",
        "customer": "Müller Maschinenbau GmbH",
        "priority": "critical",
        "assignee": None,
        "target": "first_response",
        "state": "breached",
        "percent": 166.7,
        "due_at": "2026-11-23T09:30:00+00:00",
    }
    payload = {
        "report": "daily-sla",
        "period": "2026-11-23",
        "breached_count": 1,
        "at_risk_count": 0,
        "breached": [item],
        "at_risk": [],
    }
    return {**payload, **changes}


def test_the_digest_lists_breached_tickets_with_links() -> None:
    mail = render(digest(), locale="en", public_url=PUBLIC_URL, timezone="Europe/Berlin")
    assert mail.subject == "SLA digest 2026-11-23: 1 breached, 0 at risk"
    assert "Breached" in mail.text
    assert "At risk" not in mail.text
    assert f"#12000 Mailserver <down> <{PUBLIC_URL}/tickets/12000>" in mail.text
    assert "Mailserver &lt;down&gt;" in mail.html
    assert f'href="{PUBLIC_URL}/tickets/12000"' in mail.html
    assert "166.7 %, due" in mail.text
    assert "unassigned" in mail.text


def test_the_digest_in_german() -> None:
    mail = render(digest(), locale="de", public_url=PUBLIC_URL, timezone="Europe/Berlin")
    assert mail.subject == "SLA-Übersicht 2026-11-23: 1 verletzt, 0 gefährdet"
    assert "Verletzt" in mail.text
    assert "166.7 %, fällig" in mail.text


def test_the_summary_without_closed_tickets_shows_no_sla_ratio() -> None:
    payload = {
        "report": "weekly-customer",
        "customer": "Globex Ltd",
        "since": "2026-11-16T09:00:00+00:00",
        "until": "2026-11-23T09:00:00+00:00",
        "timezone": "Europe/London",
        "recipient": {"name": "John", "locale": "en", "timezone": None},
        "opened_count": 2,
        "closed_count": 0,
        "sla_kept": 0,
        "sla_total": 0,
        "open_count": 2,
        "opened": [{"number": 1, "title": "A", "status": "open"}, {"number": 2, "title": "B", "status": "new"}],
        "closed": [],
    }
    mail = render(payload, locale="en", public_url=PUBLIC_URL)
    assert mail.subject == "Weekly summary for Globex Ltd"
    assert "Hello John," in mail.text
    assert "Resolved within the SLA: —" in mail.text
    assert "Opened this week" in mail.text
    assert "Closed this week" not in mail.text
    assert "#1: A (open)" in mail.text
