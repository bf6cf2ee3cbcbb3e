"""Views and outbox envelopes for the renderer tests: every field filled, the bare minimum, and hostile text.

Envelopes are built the way the outbox builds them (``storage.outbox.envelope`` over a real ``Ticket`` folded from
real events), so the notification tests see exactly the shape that is delivered.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from psa_chatops.core import commands as cmd
from psa_chatops.core import events as ev
from psa_chatops.core.alerts import AlertClassification, AlertSeverity
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import CATEGORY_OF
from psa_chatops.core.sla import BusinessCalendar, SlaTargetName
from psa_chatops.core.ticket_decisions import open_ticket
from psa_chatops.core.tickets import SlaContext, Ticket
from psa_chatops.core.tickets_state import Source, Status, Visibility
from psa_chatops.handlers.ports import RecordedEvent
from psa_chatops.handlers.views import NoteView, SlaView, TicketListView, TicketSummaryView, TicketView
from psa_chatops.storage.outbox import envelope, ticket_summary
from tests.fixtures_directory import STANDARD

PUBLIC_URL = "https://psa.example.com"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
INJECTIONS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0123ABCD>",
    "<#C0123ABCD>",
    "<!subteam^S0123>",
    "<https://evil.example|click here>",
    "<!date^1392734382^{date}|x>",
)
HOSTILE = "Tom & Jerry " + " ".join(INJECTIONS) + " @here @channel"
TECHNICIAN_ACTIONS = ("add_note", "set_status", "close", "assign_to_me", "escalate")


def sla(target: str = "first_response", *, state: str = "ok", percent: float = 40.0) -> SlaView:
    return SlaView(target, NOW + timedelta(hours=2), percent, state, target_seconds=14_400, elapsed_seconds=5_760)


def note(i: int, *, visibility: str = "internal", body: str | None = None) -> NoteView:
    return NoteView(
        i, body or f"Note {i}: checked the logs.", visibility, "Tom Technician", NOW - timedelta(minutes=60 - i)
    )


def full_view(**changes: Any) -> TicketView:
    """A ticket with every field the card can show."""
    view = TicketView(
        number=12345,
        title="Mail server down",
        description="Since 8:00 nobody can send mail.\nOutlook says: 0x800CCC0E.",
        status="in_progress",
        priority="high",
        source="email",
        customer_id="CUST-789",
        customer_name="Müller Maschinenbau GmbH",
        created_at=NOW - timedelta(hours=3),
        updated_at=NOW - timedelta(minutes=5),
        version=7,
        contact="Petra Kunde",
        asset="WS-CLIENT-042",
        assignee_id="tom",
        assignee="Tom Technician",
        contact_id="c-1",
        asset_id="WS-CLIENT-042",
        tags=("mail", "outage"),
        resolution=None,
        escalation_level=1,
        sla=(sla("first_response", state="met", percent=0.0), sla("resolution", state="warning", percent=80.0)),
        notes=(note(1), note(2, visibility="public", body="We are on it.")),
        actions=TECHNICIAN_ACTIONS,
    )
    return replace(view, **changes)


def minimal_view(**changes: Any) -> TicketView:
    """A ticket with only the required fields (no assignee, SLA, notes or actions)."""
    view = TicketView(
        number=1,
        title="x",
        description="",
        status="new",
        priority="low",
        source="api",
        customer_id="CUST-100",
        customer_name="Globex Ltd",
        created_at=NOW,
        updated_at=NOW,
        version=1,
    )
    return replace(view, **changes)


def summary(number: int, **changes: Any) -> TicketSummaryView:
    base = TicketSummaryView(
        number=number,
        title=f"Printer {number} jams",
        status="open",
        priority=("critical", "high", "medium", "low")[number % 4],
        customer_name="Globex Ltd",
        assignee="Mia" if number % 2 else None,
        next_due_at=NOW + timedelta(hours=number % 5),
        sla_state=("ok", "warning", "breached", "met", "paused")[number % 5],
    )
    return replace(base, **changes)


def ticket_list(count: int, *, total: int | None = None, title: str = "My open tickets") -> TicketListView:
    tickets = tuple(summary(10_000 + i) for i in range(count))
    return TicketListView(title=title, tickets=tickets, total=count if total is None else total)


# --- envelopes ---------------------------------------------------------------------------------------------------

SLA_CONTEXT = SlaContext(STANDARD, BusinessCalendar())
OPENED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin


def _events(number: int, title: str) -> list[ev.Event]:
    opened = open_ticket(
        cmd.OpenTicket(
            title=title,
            description="Nobody can send mail.",
            customer_id="CUST-789",
            priority=Priority.HIGH,
            source=Source.EMAIL,
            asset_id="WS-CLIENT-042",
        ),
        number=number,
        now=OPENED_AT,
        sla=SLA_CONTEXT,
    )
    later = OPENED_AT + timedelta(minutes=30)
    return [
        *opened,
        ev.TicketAssigned(number=number, occurred_at=later, assignee_id="mia"),
        ev.TicketStatusChanged(number=number, occurred_at=later, from_status=Status.NEW, to_status=Status.IN_PROGRESS),
        ev.NoteAdded(
            number=number,
            occurred_at=later,
            note_id=1,
            body="Restarted the MTA.\nWatching the queue.",
            visibility=Visibility.INTERNAL,
            author_id="technician:mia",
        ),
        ev.NoteAdded(
            number=number,
            occurred_at=later,
            note_id=2,
            body="We are on it.",
            visibility=Visibility.PUBLIC,
            author_id="technician:mia",
        ),
        ev.TicketPriorityChanged(
            number=number, occurred_at=later, from_priority=Priority.HIGH, to_priority=Priority.CRITICAL
        ),
        ev.SlaWarningRaised(
            number=number,
            occurred_at=later + timedelta(hours=1),
            target=SlaTargetName.RESOLUTION,
            threshold=90,
            due_at=OPENED_AT + timedelta(hours=8),
        ),
        ev.SlaBreached(
            number=number,
            occurred_at=OPENED_AT + timedelta(hours=9),
            target=SlaTargetName.RESOLUTION,
            due_at=OPENED_AT + timedelta(hours=8),
        ),
        ev.TicketEscalated(
            number=number,
            occurred_at=OPENED_AT + timedelta(hours=9),
            level=1,
            reason="sla_breach",
            from_priority=Priority.HIGH,
            to_priority=Priority.CRITICAL,
            notify_dispatchers=True,
        ),
        *_appointment_events(number),
        *_alert_events(number),
        ev.TicketStatusChanged(
            number=number,
            occurred_at=OPENED_AT + timedelta(hours=10),
            from_status=Status.IN_PROGRESS,
            to_status=Status.CLOSED,
            resolution="Replaced the disk & restarted.",
        ),
    ]


def _appointment_events(number: int) -> list[ev.Event]:
    """Mia's on-site visit: booked, moved, then cancelled (the address is user text, so it carries an injection)."""
    at = OPENED_AT + timedelta(hours=9, minutes=30)
    visit = {"appointment_id": 1, "technician_id": "mia", "location": "Hauptstr. 1 <!channel>", "title": "Disk"}
    return [
        ev.AppointmentScheduled(
            number=number, occurred_at=at, starts_at=OPENED_AT + timedelta(days=1),
            ends_at=OPENED_AT + timedelta(days=1, hours=2), **visit,  # type: ignore[arg-type]
        ),
        ev.AppointmentRescheduled(
            number=number, occurred_at=at, starts_at=OPENED_AT + timedelta(days=2),
            ends_at=OPENED_AT + timedelta(days=2, hours=2), previous_starts_at=OPENED_AT + timedelta(days=1),
            **visit,  # type: ignore[arg-type]
        ),
        ev.AppointmentCancelled(number=number, occurred_at=at, appointment_id=1, reason="Fixed remotely."),
    ]  # fmt: skip


ALERT_LINK = ev.AlertLink(
    provider="sentinelone",
    alert_id="1789",
    severity=AlertSeverity.CRITICAL,
    threat_type="Ransomware <!channel>",
    title="Ransomware on WS-CLIENT-042",
    affected_asset="WS-CLIENT-042",
    asset_id="WS-CLIENT-042",
)


def _alert_events(number: int) -> list[ev.Event]:
    """The SOC's alert on the ticket's machine: received, acknowledged, escalated, isolated, classified."""
    at, link = OPENED_AT + timedelta(hours=9, minutes=40), ALERT_LINK
    return [
        ev.AlertReceived(number=number, occurred_at=at, alert=link),
        ev.AlertAcknowledged(number=number, occurred_at=at, alert=link),
        ev.AlertEscalated(number=number, occurred_at=at, alert=link, reason="Lateral movement <!here>"),
        ev.AlertIsolationRequested(number=number, occurred_at=at, alert=link, device="agent-42"),
        ev.AlertClassified(number=number, occurred_at=at, alert=link, classification=AlertClassification.TRUE_POSITIVE),
    ]


def envelopes(
    *, number: int = 12345, title: str = "Mail server down", actor: str = "technician:tom"
) -> list[dict[str, Any]]:
    """One delivered envelope per event of a ticket's life, each with the ticket as it stood after the event."""
    ticket: Ticket | None = None
    result = []
    for version, event in enumerate(_events(number, title), start=1):
        ticket = Ticket.replay([event]) if ticket is None else ticket.evolved([event])
        record = RecordedEvent(event, version, actor, f"corr-{version}", None)
        result.append(envelope(record, ticket_summary(ticket)))
    return result


def routed_envelopes(**kwargs: Any) -> dict[str, dict[str, Any]]:
    """The first envelope of every event type the routing rules can send to a channel, by type name."""
    routed = {cls.__name__ for cls in CATEGORY_OF}
    found: dict[str, dict[str, Any]] = {}
    for item in envelopes(**kwargs):
        if item["type"] in routed:
            found.setdefault(item["type"], item)
    assert set(found) == routed, f"the factory misses {routed - set(found)}"
    return found
