"""What an on-site appointment's calendar entry says: for the Microsoft 365 sync (``calendar_graph``) and the
customers' iCalendar feed (``bot.calendar``), in the reader's language.

The Graph event names the visit's address as ``location`` and invites the technician (``attendees``), so the visit
lands in their own calendar too; the customer's feed gets the same text without the technician's e-mail address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psa_chatops.core.errors import N_
from psa_chatops.i18n import translate
from psa_chatops.storage.appointments import AppointmentEntry


def appointment_summary(entry: AppointmentEntry, locale: str, *, with_customer: bool = True) -> str:
    title = entry.appointment.title
    if with_customer and entry.customer is not None:
        return translate(N_("On-site: {title} ({customer})"), locale, title=title, customer=entry.customer.name)
    return translate(N_("On-site: {title}"), locale, title=title)


def technician_name(entry: AppointmentEntry) -> str:
    return entry.technician.name if entry.technician is not None else entry.appointment.technician_id


def appointment_description(entry: AppointmentEntry, locale: str, *, with_notes: bool = True) -> str:
    """``with_notes=False`` for the customer's feed: notes are the technicians' own."""
    a = entry.appointment
    lines = [translate(N_("Ticket #{number}: {title}"), locale, number=a.ticket_number, title=entry.ticket_title)]
    if entry.customer is not None:
        lines.append(translate(N_("Customer: {customer}"), locale, customer=entry.customer.name))
    lines.append(translate(N_("Technician: {technician}"), locale, technician=technician_name(entry)))
    lines.append(translate(N_("Address: {location}"), locale, location=a.location))
    if with_notes and a.notes:
        lines += ["", a.notes]
    return "\n".join(lines)


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def appointment_body(entry: AppointmentEntry, locale: str) -> dict[str, Any]:
    """The Graph event for an appointment (without ``transactionId``, which only a create sends)."""
    a = entry.appointment
    body: dict[str, Any] = {
        "subject": appointment_summary(entry, locale),
        "body": {"contentType": "text", "content": appointment_description(entry, locale)},
        "start": _graph_time(a.starts_at),
        "end": _graph_time(a.ends_at),
        "location": {"displayName": a.location},
        "showAs": "busy",
        "isReminderOn": True,
        "reminderMinutesBeforeStart": 60,
    }
    if entry.technician is not None and entry.technician.email:
        body["attendees"] = [
            {
                "type": "required",
                "emailAddress": {"address": entry.technician.email, "name": entry.technician.name},
            }
        ]
    return body
