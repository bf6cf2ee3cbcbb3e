"""Channel notifications from outbox envelopes (``cards.slack.notifications``): root card, thread lines, webhooks.

Every event type that ``core.routing.CATEGORY_OF`` can route to a channel gets a root card and a thread line; the
envelopes come from ``storage.outbox.envelope`` over real events (``tests/cards/slack_factories.py``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from psa_chatops.cards.slack import ids
from psa_chatops.cards.slack.notifications import ROUTED_EVENT_TYPES, root_message, thread_line, webhook_message
from psa_chatops.cards.wording import ALERT_EVENT_TYPES
from psa_chatops.core import events as ev
from psa_chatops.core.routing import CATEGORY_OF
from tests.cards.slack_factories import HOSTILE, INJECTIONS, PUBLIC_URL, envelopes, routed_envelopes
from tests.cards.slack_limits import assert_matches_block_kit_schema, assert_within_slack_limits

LOCALES = ("en", "de")
ROUTED = sorted(cls.__name__ for cls in CATEGORY_OF)
NAMES = {"technician:tom": "Tom", "tom": "Tom", "mia": "Mia", "CUST-789": "Müller Maschinenbau GmbH"}
EXPECTED_LINES = {
    "TicketOpened": ":new: Tom opened the ticket (high, via e-mail).",
    "TicketAssigned": ":bust_in_silhouette: Tom assigned the ticket to Mia.",
    "TicketStatusChanged": ":arrows_counterclockwise: Status: new → *in progress* (Tom)",
    "NoteAdded": ":lock: Mia added an internal note: Restarted the MTA. Watching the queue.",
    "TicketPriorityChanged": ":arrow_up_down: Priority: high → *critical* (Tom)",
    "SlaWarningRaised": ":warning: *SLA resolution at 90 %* · due <!date^",
    "SlaBreached": ":rotating_light: *SLA resolution breached* · was due <!date^",
    "TicketEscalated": ":arrow_double_up: *Escalated to level 1: SLA breached* · priority high → critical · "
    "dispatchers paged",
    "AppointmentScheduled": ":calendar: Tom booked Mia on site for <!date^",
    "AppointmentRescheduled": ":calendar: Tom moved the on-site appointment: Mia, <!date^",
    "AppointmentCancelled": ":x: Tom cancelled the on-site appointment. · Reason: Fixed remotely.",
    "AlertReceived": ":shield: *critical* alert from SentinelOne: Ransomware &lt;!channel&gt; on WS-CLIENT-042",
    "AlertAcknowledged": ":eyes: Tom acknowledged the alert.",
    "AlertEscalated": ":sos: Tom escalated the alert to the SOC. · Reason: Lateral movement &lt;!here&gt;",
    "AlertIsolationRequested": ":no_entry: Tom asked SentinelOne to isolate WS-CLIENT-042.",
    "AlertClassified": ":white_check_mark: Tom classified the alert as *true positive*.",
}
TICKET_EVENTS = sorted(set(ROUTED) - ALERT_EVENT_TYPES)  # alert events get the alert card (test_alert_cards.py)


def check(payload: Any, **kwargs: Any) -> dict[str, Any]:
    data = assert_within_slack_limits(payload, **kwargs)
    assert_matches_block_kit_schema(data, **kwargs)
    return data


def test_every_routed_event_type_is_rendered() -> None:
    assert set(ROUTED) == ROUTED_EVENT_TYPES == set(EXPECTED_LINES)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("event_type", TICKET_EVENTS)
def test_root_message_for_every_routed_event(event_type: str, locale: str) -> None:
    envelope = routed_envelopes()[event_type]
    data = check(root_message(envelope, locale=locale, public_url=PUBLIC_URL, names=NAMES))
    text = json.dumps(data, ensure_ascii=False)
    assert f"<{PUBLIC_URL}/tickets/12345|#12345>" in text
    assert "Mail server down" in text
    assert "Müller Maschinenbau GmbH" in text
    assert data["text"].startswith("#12345 Mail server down: ")
    elements = [e for b in data["blocks"] if b["type"] == "actions" for e in b["elements"]]
    block = next(b for b in data["blocks"] if b["type"] == "actions")
    assert block["block_id"] == ids.action_value(12345, envelope["ticket"]["version"])
    assert [e["action_id"] for e in elements] == [
        ids.ASSIGN_TO_ME,
        ids.SET_STATUS,
        ids.ADD_NOTE,
        ids.ESCALATE,
        ids.CLOSE,
        ids.OPEN_IN_PSA,
    ]
    assert all(e["value"] == ids.action_value(12345, envelope["version"]) for e in elements if "value" in e)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("event_type", ROUTED)
def test_thread_line_for_every_routed_event(event_type: str, locale: str) -> None:
    line = thread_line(routed_envelopes()[event_type], locale=locale, public_url=PUBLIC_URL, names=NAMES)
    assert line is not None
    data = check(line)
    assert len(data["blocks"]) == 1
    if locale == "en":
        assert data["text"].startswith(EXPECTED_LINES[event_type])


def test_thread_lines_speak_german() -> None:
    found = routed_envelopes()
    lines = {t: thread_line(found[t], locale="de", public_url=PUBLIC_URL, names=NAMES) for t in ROUTED}
    text = {t: m.text for t, m in lines.items() if m is not None}
    assert text["TicketAssigned"] == ":bust_in_silhouette: Tom hat das Ticket Mia zugewiesen."
    assert text["TicketStatusChanged"] == ":arrows_counterclockwise: Status: neu → *in Bearbeitung* (Tom)"
    assert text["SlaWarningRaised"].startswith(":warning: *SLA Lösungszeit bei 90 %* · fällig <!date^")
    assert "|23.11.2026, 16:00 UTC>" in text["SlaWarningRaised"]
    assert text["AppointmentScheduled"].startswith(":calendar: Tom hat Mia für <!date^")
    assert text["AppointmentScheduled"].endswith("vor Ort eingeplant: Hauptstr. 1 &lt;!channel&gt;")  # escaped
    assert text["AppointmentCancelled"] == ":x: Tom hat den Vor-Ort-Termin abgesagt. · Grund: Fixed remotely."


@pytest.mark.parametrize("event_type", ["FirstResponseMet", "SlaPaused", "SlaResumed", "SomethingNew"])
def test_no_thread_line_for_events_that_are_not_worth_one(event_type: str) -> None:
    envelope = {**routed_envelopes()["TicketAssigned"], "type": event_type, "data": {}}
    assert thread_line(envelope, locale="en", public_url=PUBLIC_URL) is None
    root = check(root_message(envelope, locale="en", public_url=PUBLIC_URL))
    assert root["text"] == "#12345 Mail server down"  # the card alone
    assert all(b["type"] != "context" for b in root["blocks"])


def test_unrouted_types_are_the_internal_ones() -> None:
    assert set(ev.EVENT_TYPES) - ROUTED_EVENT_TYPES == {"FirstResponseMet", "SlaPaused", "SlaResumed"}


def test_without_names_ids_are_shown_without_their_prefix() -> None:
    line = thread_line(routed_envelopes()["TicketAssigned"], locale="en", public_url=PUBLIC_URL)
    assert line is not None
    assert line.text == ":bust_in_silhouette: tom assigned the ticket to mia."


def test_self_assignment_and_reassignment() -> None:
    envelope = copy.deepcopy(routed_envelopes()["TicketAssigned"])
    envelope["actor"] = "technician:mia"
    line = thread_line(envelope, locale="en", public_url=PUBLIC_URL, names=NAMES)
    assert line is not None
    assert line.text == ":bust_in_silhouette: Mia took the ticket."
    envelope["actor"] = "technician:tom"
    envelope["data"]["previous_assignee_id"] = "sam"
    line = thread_line(envelope, locale="en", public_url=PUBLIC_URL, names=NAMES)
    assert line is not None
    assert line.text == ":bust_in_silhouette: Tom reassigned the ticket from sam to Mia."


def test_system_actor_is_the_psa() -> None:
    envelope = {**routed_envelopes()["TicketPriorityChanged"], "actor": "system:escalate_on_breach"}
    line = thread_line(envelope, locale="de", public_url=PUBLIC_URL)
    assert line is not None
    assert line.text.endswith("(PSA)")


def test_public_note_and_resolution_lines() -> None:
    all_envelopes = envelopes()
    public = next(e for e in all_envelopes if e["type"] == "NoteAdded" and e["data"]["visibility"] == "public")
    line = thread_line(public, locale="en", public_url=PUBLIC_URL, names=NAMES)
    assert line is not None
    assert line.text == ":speech_balloon: Mia replied to the customer: We are on it."
    closed = all_envelopes[-1]
    line = thread_line(closed, locale="en", public_url=PUBLIC_URL, names=NAMES)
    assert line is not None
    assert line.text.endswith("Status: in progress → *closed* (Tom) · Resolution: Replaced the disk &amp; restarted.")


def test_root_of_a_closed_ticket_has_no_buttons() -> None:
    closed = envelopes()[-1]
    data = check(root_message(closed, locale="en", public_url=PUBLIC_URL))
    assert all(b["type"] != "actions" for b in data["blocks"])


def test_root_marks_breached_and_warned_slas() -> None:
    found = routed_envelopes()
    breached = json.dumps(root_message(found["SlaBreached"], locale="en", public_url=PUBLIC_URL).as_dict())
    assert ":rotating_light: *breached*" in breached
    warned = json.dumps(
        root_message(found["SlaWarningRaised"], locale="de", public_url=PUBLIC_URL).as_dict(), ensure_ascii=False
    )
    assert ":warning: *gefährdet*" in warned
    opened = json.dumps(root_message(found["TicketOpened"], locale="en", public_url=PUBLIC_URL).as_dict())
    assert ":warning:" not in opened
    assert ":rotating_light:" not in opened


@pytest.mark.parametrize("locale", LOCALES)
def test_hostile_title_and_note_stay_inert(locale: str) -> None:
    for envelope in envelopes(title=HOSTILE[:200]):
        if envelope["type"] == "NoteAdded":
            envelope["data"]["body"] = HOSTILE * 100
        rendered = [
            root_message(envelope, locale=locale, public_url=PUBLIC_URL).as_dict(),
            webhook_message(envelope, locale=locale, public_url=PUBLIC_URL),
        ]
        line = thread_line(envelope, locale=locale, public_url=PUBLIC_URL)
        rendered += [line.as_dict()] if line else []
        for data in rendered:
            check(data)
            text = json.dumps(data)
            for injection in INJECTIONS:
                assert injection not in text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("event_type", ROUTED)
def test_webhook_message_has_no_buttons_but_a_link(event_type: str, locale: str) -> None:
    data = check(webhook_message(routed_envelopes()[event_type], locale=locale, public_url=PUBLIC_URL, names=NAMES))
    assert set(data) == {"text", "blocks"}
    assert all(b["type"] != "actions" for b in data["blocks"])
    link = "Open in PSA" if locale == "en" else "Im PSA öffnen"
    assert f"<{PUBLIC_URL}/tickets/12345|{link}>" in json.dumps(data, ensure_ascii=False)


def test_webhook_message_for_an_event_without_a_line() -> None:
    envelope = {**routed_envelopes()["TicketOpened"], "type": "SlaPaused", "data": {}}
    data = check(webhook_message(envelope, locale="en", public_url=PUBLIC_URL))
    assert data["blocks"][0]["text"]["text"] == "Ticket #12345 was updated."


def test_a_minimal_envelope_renders() -> None:
    envelope = {
        "type": "TicketAssigned",
        "number": 3,
        "version": 2,
        "occurred_at": "not a time",
        "actor": "",
        "data": {"assignee_id": "mia"},
        "ticket": {"number": 3, "version": 2, "status": "open", "priority": "low", "title": "", "customer_id": "C"},
    }
    check(root_message(envelope, locale="en", public_url=PUBLIC_URL))
    line = thread_line(envelope, locale="en", public_url=PUBLIC_URL)
    assert line is not None
    assert line.text == ":bust_in_silhouette: _someone_ assigned the ticket to mia."
