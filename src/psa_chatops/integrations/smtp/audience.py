"""Who gets a ticket notification by e-mail: the ``email:<target>`` destination and the event decide.

``email:contacts``
    The ticket's contact, in the contact's language, for the events a customer should hear about: the ticket was
    opened, the service desk replied (a *public* note), the ticket was resolved. Never an internal note (any note
    not explicitly public counts as internal: fail closed), and never the contact's own note echoed back.
``email:technicians``
    Technicians, in their language and timezone: the new assignee on an assignment (not when they took it
    themselves); the assignee on SLA warnings, breaches and escalations, or the dispatchers while nobody is
    assigned; the dispatchers as well when an escalation pages them.
``email:dispatchers``
    Every dispatcher, for every event the routing rule lets through (internal notes included: they are staff).
``email:<address>``
    One fixed mailbox (a team's shared inbox), technician wording in the default language, for every event
    except internal notes: the address may be outside the company, so internal notes fail closed here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from psa_chatops.cards.email.notification import Audience
from psa_chatops.core.directory import Contact, Customer, Technician
from psa_chatops.integrations.chat_threads import is_internal_note
from psa_chatops.integrations.errors import PermanentDeliveryError
from psa_chatops.integrations.smtp.message import is_address

EMAIL_KIND = "email"
CONTACT_EVENTS = frozenset({"TicketOpened", "NoteAdded", "TicketStatusChanged"})
TECHNICIAN_EVENTS = frozenset({"TicketAssigned", "SlaWarningRaised", "SlaBreached", "TicketEscalated"})
Target = Literal["contacts", "technicians", "dispatchers"]


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str | None
    locale: str
    timezone: str | None
    audience: Audience


class People(Protocol):
    """The directory as the notifier needs it; an id that does not exist is None."""

    async def contact(self, contact_id: str) -> Contact | None: ...

    async def technician(self, technician_id: str) -> Technician | None: ...

    async def customer(self, customer_id: str) -> Customer | None: ...

    async def dispatchers(self) -> list[Technician]: ...


def parse_target(destination: str, target: str) -> Target | str:
    """``contacts``, ``technicians``, ``dispatchers`` or a bare address; anything else is permanent."""
    if target in ("contacts", "technicians", "dispatchers"):
        return target
    if is_address(target):
        return target
    raise PermanentDeliveryError(
        "not an email:contacts|technicians|dispatchers|<address> destination", destination=destination
    )


def is_contact_facing(envelope: Mapping[str, Any]) -> bool:
    data = envelope.get("data")
    data = data if isinstance(data, dict) else {}
    kind = envelope.get("type")
    if kind == "NoteAdded":
        author = str(data.get("author_id") or envelope.get("actor") or "")
        return not is_internal_note(envelope) and not author.startswith("contact:")
    if kind == "TicketStatusChanged":
        return data.get("to_status") == "resolved"
    return kind == "TicketOpened"


async def recipients_for(
    target: str, envelope: Mapping[str, Any], people: People, *, default_locale: str
) -> list[Recipient]:
    """Who gets this envelope's mail at ``target`` (possibly nobody)."""
    if target == "contacts":
        return await _contact(envelope, people) if is_contact_facing(envelope) else []
    if target == "technicians":
        return [_staff(t) for t in await _technicians(envelope, people)]
    if target == "dispatchers":
        return [_staff(t) for t in await people.dispatchers()]
    if is_internal_note(envelope):
        return []
    return [Recipient(target, None, default_locale, None, "technician")]


async def _contact(envelope: Mapping[str, Any], people: People) -> list[Recipient]:
    ticket = envelope.get("ticket") or {}
    contact_id = ticket.get("contact_id")
    contact = await people.contact(str(contact_id)) if contact_id else None
    if contact is None or not is_address(contact.email):
        return []
    customer = await people.customer(contact.customer_id)
    timezone = customer.calendar.timezone if customer else None
    return [Recipient(contact.email, contact.name, contact.locale, timezone, "contact")]


async def _technicians(envelope: Mapping[str, Any], people: People) -> list[Technician]:
    kind = envelope.get("type")
    data: Mapping[str, Any] = envelope.get("data") or {}
    ticket: Mapping[str, Any] = envelope.get("ticket") or {}
    if kind == "TicketAssigned":
        new_id = str(data.get("assignee_id") or "")
        if not new_id or str(envelope.get("actor") or "") == f"technician:{new_id}":
            return []
        found = await people.technician(new_id)
        return [found] if found else []
    if kind not in TECHNICIAN_EVENTS:
        return []
    assignee_id = ticket.get("assignee_id")
    assignee = await people.technician(str(assignee_id)) if assignee_id else None
    chosen: list[Technician] = [assignee] if assignee else []
    if assignee is None or (kind == "TicketEscalated" and data.get("notify_dispatchers")):
        chosen += await people.dispatchers()
    return list({t.id: t for t in chosen}.values())


def _staff(technician: Technician) -> Recipient:
    return Recipient(technician.email, technician.name, technician.locale, technician.timezone, "technician")
