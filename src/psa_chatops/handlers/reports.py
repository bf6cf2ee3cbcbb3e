"""Scheduled reports by e-mail: who gets which report and what it says, from one snapshot of the data.

- **Daily SLA digest** (``daily-sla``) to every technician and dispatcher: the open tickets of the customers in
  their scope (everyone's for a dispatcher, an admin or a technician without a scope) whose SLA is breached or at
  risk (75 % and more), most urgent first. Nobody gets an empty digest.
- **Weekly customer summary** (``weekly-customer``) to each customer's contacts: the tickets opened and closed in
  the past seven days, how many of the closed ones kept their resolution SLA, and how many are still open.

Reports are mails queued as outbox rows (``storage.mail_sent.enqueue_reports``); ``period`` (the day, the ISO
week) is part of each row's idempotency key, so running a report twice for the same period queues it once.
"Closed this week" means resolved or closed and last changed this week (the projection keeps no resolve time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from psa_chatops.core.directory import Contact, Customer, Role, Technician
from psa_chatops.core.sla import BusinessCalendar, SlaPolicy, SlaTargetName
from psa_chatops.core.tickets import SlaClock, Ticket
from psa_chatops.handlers.queries import sla_views

SLA_DIGEST: Final = "daily-sla"
CUSTOMER_SUMMARY: Final = "weekly-customer"
REPORTS: Final = (SLA_DIGEST, CUSTOMER_SUMMARY)
SLA_DIGEST_EVENT: Final = "SlaDigest"
CUSTOMER_SUMMARY_EVENT: Final = "CustomerSummary"
WEEK: Final = timedelta(days=7)
MAX_ITEMS: Final = 100  # tickets listed in one mail; the counts stay complete


@dataclass(frozen=True)
class ReportInputs:
    """One snapshot: the directory and the tickets (open ones, and those created or changed in the last week)."""

    technicians: tuple[Technician, ...]
    customers: tuple[Customer, ...]
    contacts: tuple[Contact, ...]
    policies: Mapping[str, SlaPolicy]
    tickets: tuple[Ticket, ...]


@dataclass(frozen=True)
class ReportMail:
    report: str
    period: str
    address: str
    event_type: str
    payload: dict[str, Any]

    @property
    def destination(self) -> str:
        return f"email:{self.address}"


def build_reports(report: str, inputs: ReportInputs, *, now: datetime) -> list[ReportMail]:
    if report == SLA_DIGEST:
        return daily_sla_digest(inputs, now=now)
    if report == CUSTOMER_SUMMARY:
        return weekly_customer_summary(inputs, now=now)
    raise ValueError(f"unknown report {report!r}: one of {', '.join(REPORTS)}")


# --- the daily SLA digest ------------------------------------------------------------------------------------------


def daily_sla_digest(inputs: ReportInputs, *, now: datetime) -> list[ReportMail]:
    customers = {c.id: c for c in inputs.customers}
    risky = _risky_items(inputs, customers, now)
    mails = []
    for tech in inputs.technicians:
        mine = [item for item in risky if _in_scope(tech, str(item["customer_id"]))]
        if not mine:
            continue
        breached = [i for i in mine if i["state"] == "breached"]
        at_risk = [i for i in mine if i["state"] == "warning"]
        payload = {
            "report": SLA_DIGEST,
            "period": now.date().isoformat(),
            "generated_at": now.isoformat(),
            "recipient": _person(tech.name, tech.locale, tech.timezone),
            "breached_count": len(breached),
            "at_risk_count": len(at_risk),
            "breached": breached[:MAX_ITEMS],
            "at_risk": at_risk[:MAX_ITEMS],
        }
        mails.append(ReportMail(SLA_DIGEST, now.date().isoformat(), tech.email, SLA_DIGEST_EVENT, payload))
    return mails


def _in_scope(tech: Technician, customer_id: str) -> bool:
    if tech.role in (Role.DISPATCHER, Role.ADMIN) or tech.customer_scope is None:
        return True
    return customer_id in tech.customer_scope


def _risky_items(inputs: ReportInputs, customers: Mapping[str, Customer], now: datetime) -> list[dict[str, Any]]:
    names = {t.id: t.name for t in inputs.technicians}
    items: list[dict[str, Any]] = []
    for ticket in inputs.tickets:
        if ticket.status.is_done or ticket.customer_id not in customers:
            continue
        customer = customers[ticket.customer_id]
        views = sla_views(ticket, _calendar(inputs, customer, ticket), now)
        worst = sorted((v for v in views if v.state in ("breached", "warning")), key=lambda v: -v.percent)
        if not worst:
            continue
        sla = worst[0]
        items.append(
            {
                "number": ticket.number,
                "title": ticket.title,
                "customer_id": customer.id,
                "customer": customer.name,
                "priority": ticket.priority.value,
                "assignee": names.get(ticket.assignee_id or "", ticket.assignee_id),
                "target": sla.target,
                "state": sla.state,
                "percent": sla.percent,
                "due_at": sla.due_at.isoformat() if sla.due_at else None,
            }
        )
    items.sort(key=lambda i: (i["state"] != "breached", -i["percent"], i["number"]))
    return items


def _calendar(inputs: ReportInputs, customer: Customer, ticket: Ticket) -> BusinessCalendar:
    policy = inputs.policies.get(customer.sla_policy_id)
    return policy.calendar_for(ticket.priority, customer.calendar) if policy else customer.calendar


# --- the weekly customer summary -----------------------------------------------------------------------------------


def weekly_customer_summary(inputs: ReportInputs, *, now: datetime) -> list[ReportMail]:
    since = now - WEEK
    year, week, _ = now.isocalendar()
    period = f"{year}-W{week:02d}"
    mails = []
    for customer in inputs.customers:
        contacts = [c for c in inputs.contacts if c.customer_id == customer.id]
        if not contacts:
            continue
        summary = _summary(customer, _of(inputs.tickets, customer.id), since=since, now=now)
        for contact in contacts:
            payload = {**summary, "period": period, "recipient": _person(contact.name, contact.locale, None)}
            mails.append(ReportMail(CUSTOMER_SUMMARY, period, contact.email, CUSTOMER_SUMMARY_EVENT, payload))
    return mails


def _of(tickets: Iterable[Ticket], customer_id: str) -> list[Ticket]:
    return [t for t in tickets if t.customer_id == customer_id]


def _summary(customer: Customer, tickets: list[Ticket], *, since: datetime, now: datetime) -> dict[str, Any]:
    opened = [t for t in tickets if since <= t.created_at <= now]
    closed = [t for t in tickets if t.status.is_done and since <= t.updated_at <= now]
    timed = [t for t in closed if _resolution_clock(t) is not None]
    kept = [t for t in timed if _kept(t)]
    return {
        "report": CUSTOMER_SUMMARY,
        "generated_at": now.isoformat(),
        "since": since.isoformat(),
        "until": now.isoformat(),
        "customer": customer.name,
        "timezone": customer.calendar.timezone,
        "opened_count": len(opened),
        "closed_count": len(closed),
        "sla_kept": len(kept),
        "sla_total": len(timed),
        "open_count": sum(1 for t in tickets if not t.status.is_done),
        "opened": [_line(t) for t in opened[:MAX_ITEMS]],
        "closed": [_line(t) for t in closed[:MAX_ITEMS]],
    }


def _resolution_clock(ticket: Ticket) -> SlaClock | None:
    return ticket.sla.get(SlaTargetName.RESOLUTION)


def _kept(ticket: Ticket) -> bool:
    clock = _resolution_clock(ticket)
    if clock is None or clock.met_at is None:
        return False
    return clock.due_at is None or clock.met_at <= clock.due_at


def _line(ticket: Ticket) -> dict[str, Any]:
    return {"number": ticket.number, "title": ticket.title, "status": ticket.status.value}


def _person(name: str, locale: str, timezone: str | None) -> dict[str, Any]:
    return {"name": name, "locale": locale, "timezone": timezone}
