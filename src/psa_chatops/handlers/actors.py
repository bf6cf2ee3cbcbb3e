"""Who may do what: resolve a channel identity to an actor and check permissions, for chat and API alike.

Technicians see every customer unless they carry a customer scope; contacts see only their own customer's
tickets. Tickets outside the actor's view are reported as not found, so their existence does not leak.
"""

from __future__ import annotations

from psa_chatops.core.directory import Role
from psa_chatops.core.errors import N_, ForbiddenError, NotFoundError
from psa_chatops.core.tickets import Ticket
from psa_chatops.handlers.ports import Actor, Directory

SYSTEM_CHANNEL = "system"


def system_actor(name: str) -> Actor:
    return Actor(channel=SYSTEM_CHANNEL, external_id=name)


def is_system(actor: Actor) -> bool:
    return actor.channel == SYSTEM_CHANNEL


async def resolve_actor(directory: Directory, *, channel: str, external_id: str, locale: str | None = None) -> Actor:
    link = await directory.linked_actor(channel, external_id)
    if link is None:
        return Actor(channel=channel, external_id=external_id, locale=locale or "en")
    kind, target = link
    if kind == "contact":
        contact = await directory.contact(target)
        return Actor(channel=channel, external_id=external_id, contact=contact, locale=locale or contact.locale)
    tech = await directory.technician(target)
    return Actor(
        channel=channel, external_id=external_id, technician=tech, locale=locale or tech.locale, timezone=tech.timezone
    )


def can_see_customer(actor: Actor, customer_id: str) -> bool:
    if is_system(actor):
        return True
    if actor.client:
        return actor.client.can_see_customer(customer_id)
    if actor.technician:
        return actor.technician.can_see_customer(customer_id)
    return actor.contact is not None and actor.contact.customer_id == customer_id


def visible_customers(actor: Actor) -> list[str] | None:
    """None means all customers."""
    if is_system(actor):
        return None
    if actor.client:
        ids = actor.client.customer_ids
        return None if ids is None else sorted(ids)
    if actor.technician:
        scope = actor.technician.customer_scope
        return None if scope is None else sorted(scope)
    return [actor.contact.customer_id] if actor.contact else []


def ensure_sees_ticket(actor: Actor, ticket: Ticket) -> None:
    if not can_see_customer(actor, ticket.customer_id):
        raise NotFoundError(N_("Ticket #{number} does not exist."), number=ticket.number)


def acts_as_technician(actor: Actor) -> bool:
    """Technicians, API clients (their scopes are checked by the gateway) and the system itself."""
    return is_system(actor) or actor.technician is not None or actor.client is not None


def ensure_known(actor: Actor) -> None:
    if not (acts_as_technician(actor) or actor.contact):
        raise ForbiddenError(N_("Your account is not linked to a technician or contact yet."))


def ensure_technician(actor: Actor) -> None:
    ensure_known(actor)
    if not acts_as_technician(actor):
        raise ForbiddenError(N_("Only technicians can do this."))


def ensure_may_assign(actor: Actor, assignee_id: str) -> None:
    ensure_technician(actor)
    tech = actor.technician
    if tech and tech.role is Role.TECHNICIAN and tech.id != assignee_id:
        raise ForbiddenError(N_("Only dispatchers and admins can assign tickets to others."))


def allowed_actions(actor: Actor, ticket: Ticket) -> tuple[str, ...]:
    """The action verbs the cards should offer this actor for this ticket."""
    if not acts_as_technician(actor):
        return ("add_note",) if actor.contact and ticket.status.value != "closed" else ()
    if ticket.status.value == "closed":
        return ()
    actions = ["add_note", "set_status", "close"]
    if not ticket.status.is_done:
        actions += ["assign_to_me", "escalate"]
    return tuple(actions)
