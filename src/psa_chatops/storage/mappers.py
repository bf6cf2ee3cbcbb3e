"""Row <-> domain mapping, kept in one place so the projection and ``events verify`` agree on what a ticket is."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from psa_chatops.core.directory import Asset, Contact, Customer, MaintenanceWindow, Role, Technician
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.sla import BusinessCalendar, SlaPolicy, SlaTarget, SlaTargetName
from psa_chatops.core.tickets import Note, SlaClock, Ticket
from psa_chatops.core.tickets_state import Source, Status, Visibility


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def clock_to_json(clock: SlaClock) -> dict[str, Any]:
    return {
        "target_seconds": clock.target_seconds,
        "due_at": _iso(clock.due_at),
        "elapsed_before": clock.elapsed_before,
        "active_since": _iso(clock.active_since),
        "met_at": _iso(clock.met_at),
        "raised": list(clock.raised),
    }


def clock_from_json(data: dict[str, Any]) -> SlaClock:
    return SlaClock(
        target_seconds=float(data["target_seconds"]),
        due_at=_dt(data["due_at"]),
        elapsed_before=float(data["elapsed_before"]),
        active_since=_dt(data["active_since"]),
        met_at=_dt(data["met_at"]),
        raised=tuple(data["raised"]),
    )


def _due(ticket: Ticket, name: SlaTargetName) -> datetime | None:
    clock = ticket.sla.get(name)
    return clock.due_at if clock and clock.met_at is None else None


def ticket_to_row(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "title": ticket.title,
        "description": ticket.description,
        "customer_id": ticket.customer_id,
        "contact_id": ticket.contact_id,
        "asset_id": ticket.asset_id,
        "priority": ticket.priority.value,
        "status": ticket.status.value,
        "source": ticket.source.value,
        "assignee_id": ticket.assignee_id,
        "tags": list(ticket.tags),
        "resolution": ticket.resolution,
        "escalation_level": ticket.escalation_level,
        "sla": {name.value: clock_to_json(clock) for name, clock in ticket.sla.items()},
        "first_response_due": _due(ticket, SlaTargetName.FIRST_RESPONSE),
        "resolution_due": _due(ticket, SlaTargetName.RESOLUTION),
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "version": ticket.version,
    }


def ticket_from_row(row: Any, notes: list[Any]) -> Ticket:
    return Ticket(
        number=row.number,
        title=row.title,
        description=row.description,
        customer_id=row.customer_id,
        priority=Priority(row.priority),
        source=Source(row.source),
        created_at=row.created_at,
        updated_at=row.updated_at,
        status=Status(row.status),
        contact_id=row.contact_id,
        asset_id=row.asset_id,
        assignee_id=row.assignee_id,
        tags=tuple(row.tags or ()),
        resolution=row.resolution,
        escalation_level=row.escalation_level,
        notes=[Note(n.note_id, n.body, Visibility(n.visibility), n.author_id, n.created_at) for n in notes],
        sla={SlaTargetName(name): clock_from_json(data) for name, data in (row.sla or {}).items()},
        version=row.version,
    )


def calendar_to_row(calendar: BusinessCalendar) -> dict[str, Any]:
    return {
        "timezone": calendar.timezone,
        "weekly_hours": [[[s.isoformat("minutes"), e.isoformat("minutes")] for s, e in day] for day in calendar.weekly],
        "holidays": sorted(d.isoformat() for d in calendar.holidays),
    }


def customer_from_row(row: Any) -> Customer:
    calendar = BusinessCalendar(
        timezone=row.timezone,
        weekly=tuple(tuple((time.fromisoformat(s), time.fromisoformat(e)) for s, e in day) for day in row.weekly_hours),
        holidays=frozenset(date.fromisoformat(d) for d in row.holidays),
    )
    return Customer(
        id=row.id,
        name=row.name,
        email_domains=tuple(row.email_domains),
        calendar=calendar,
        sla_policy_id=row.sla_policy_id,
        locale=row.locale,
    )


def policy_to_row(policy: SlaPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "name": policy.name,
        "targets": {
            p.value: [t.first_response.total_seconds(), t.resolution.total_seconds()] for p, t in policy.targets.items()
        },
        "around_the_clock": sorted(p.value for p in policy.around_the_clock),
    }


def policy_from_row(row: Any) -> SlaPolicy:
    targets = {
        Priority(p): SlaTarget(timedelta(seconds=fr), timedelta(seconds=res)) for p, (fr, res) in row.targets.items()
    }
    return SlaPolicy(row.id, row.name, targets, frozenset(Priority(p) for p in row.around_the_clock))


def contact_from_row(row: Any) -> Contact:
    return Contact(row.id, row.customer_id, row.name, row.email, row.locale, row.phone)


def technician_from_row(row: Any) -> Technician:
    scope = frozenset(row.customer_scope) if row.customer_scope is not None else None
    return Technician(row.id, row.name, row.email, Role(row.role), scope, row.locale, row.timezone)


def asset_from_row(row: Any) -> Asset:
    return Asset(row.id, row.customer_id, row.name, row.hostname, row.type)


def window_from_row(row: Any) -> MaintenanceWindow:
    return MaintenanceWindow(row.id, row.customer_id, row.title, row.starts_at, row.ends_at, tuple(row.asset_ids))


def rule_from_row(row: Any) -> RoutingRule:
    return RoutingRule(
        id=row.id,
        destination=row.destination,
        categories=frozenset(Category(c) for c in row.categories),
        customer_id=row.customer_id,
        min_priority=Priority(row.min_priority) if row.min_priority else None,
        dispatchers=row.dispatchers,
    )
