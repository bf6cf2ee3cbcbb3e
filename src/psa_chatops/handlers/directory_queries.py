"""Rules for directory records changed through the API that need no I/O: who may see and change which records,
and what makes a record valid. The API layer reads and writes; these functions decide.

Visibility follows tickets: an actor limited to some customers (an API key with a customer scope) sees only those
customers' records, and everything else is "not found", so other customers' existence does not leak. Records that
belong to no customer (technicians, SLA policies) are read by everyone but changed only by actors that see every
customer; a routing rule for no customer hears every customer's events, so it is treated the same way.

Validation returns ``Issue``s (field, msgid, parameters) instead of raising, so a request learns every problem at
once; the API turns them into a 422 whose ``errors[].loc`` names the fields.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from urllib.parse import urlsplit

from psa_chatops.core.directory import MaintenanceWindow
from psa_chatops.core.errors import N_, ForbiddenError, NotFoundError
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import RoutingRule
from psa_chatops.core.sla import BusinessCalendar, SlaPolicy
from psa_chatops.handlers.actors import can_see_customer, visible_customers
from psa_chatops.handlers.ports import Actor

EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
SLACK_CHANNEL = re.compile(r"^[CDG][A-Z0-9]{6,20}$")  # public (C), private (G) channels and direct messages (D)
TEAMS_CONVERSATION = re.compile(r"^[!-~]{3,400}$")  # "19:...@thread.tacv2", "a:1...": printable, no spaces
DESTINATION_KINDS = ("slack", "teams", "webhook", "email")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})  # files in the tz database that are not zones


@dataclass(frozen=True)
class Issue:
    where: str  # the request field at fault, dotted ("weekly_hours.monday")
    template: str  # an N_ msgid
    params: Mapping[str, object] = field(default_factory=dict)


# --- who sees and changes what --------------------------------------------------------------------------------------


def sees(actor: Actor, customer_id: str | None) -> bool:
    """``customer_id`` None: a record of every customer, visible only to actors that see every customer."""
    if customer_id is None:
        return visible_customers(actor) is None
    return can_see_customer(actor, customer_id)


def ensure_sees(actor: Actor, customer_id: str | None, template: str, **params: object) -> None:
    if not sees(actor, customer_id):
        raise NotFoundError(template, **params)


def ensure_sees_every_customer(actor: Actor) -> None:
    """For records that are not one customer's: technicians, SLA policies, routing rules for all customers."""
    if visible_customers(actor) is not None:
        raise ForbiddenError(N_("Your access is limited to some customers, so you cannot change records of all."))


def ensure_may_create_customer(actor: Actor, customer_id: str) -> None:
    if not sees(actor, customer_id):
        raise ForbiddenError(
            N_("Your access is limited to some customers; customer {id} is not one of them."), id=customer_id
        )


# --- what makes a record valid --------------------------------------------------------------------------------------


def email_issues(name: str, value: str) -> list[Issue]:
    if len(value) <= 254 and EMAIL.match(value):
        return []
    return [Issue(name, N_("{value} is not an e-mail address."), {"value": value})]


def domain_issues(name: str, values: Collection[str]) -> list[Issue]:
    return [
        Issue(f"{name}.{i}", N_("{value} is not a domain name such as example.com."), {"value": value})
        for i, value in enumerate(values)
        if not DOMAIN.match(value)
    ]


def timezone_issues(name: str, value: str, zones: Collection[str]) -> list[Issue]:
    """``zones``: the IANA zone names the SLA clock can load (read once by the caller; the lookup is file I/O)."""
    if value in zones and value not in NOT_ZONES:
        return []
    return [Issue(name, N_("{value} is not an IANA time zone such as Europe/Berlin."), {"value": value})]


def calendar_issues(calendar: BusinessCalendar, zones: Collection[str]) -> list[Issue]:
    issues = timezone_issues("timezone", calendar.timezone, zones)
    for day, intervals in zip(WEEKDAYS, calendar.weekly, strict=True):
        issues += _day_issues(f"weekly_hours.{day}", intervals)
    return issues


def _day_issues(where: str, intervals: Sequence[tuple[time, time]]) -> list[Issue]:
    spans = sorted((_minutes(start), _minutes(end, closing=True)) for start, end in intervals)
    for opens, closes in spans:
        if closes <= opens:
            params = {"start": _clock(opens), "end": _clock(closes)}
            return [Issue(where, N_("Opening hours must close after they open (got {start} to {end})."), params)]
    if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)):
        return [Issue(where, N_("Opening hours on one day must not overlap."))]
    return []


def _minutes(moment: time, *, closing: bool = False) -> int:
    """Minutes since midnight; a closing time of 00:00 is the midnight at the end of the day."""
    minutes = moment.hour * 60 + moment.minute
    return 24 * 60 if closing and minutes == 0 else minutes


def _clock(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def sla_reach_issues(where: str, calendar: BusinessCalendar, policy: SlaPolicy, customer_id: str) -> list[Issue]:
    """The SLA clock looks for a due time at most three years ahead (``core.sla``) and fails beyond: a customer's
    business hours must hold the policy's longest business-time target well within that, holidays included."""
    longest = max(
        (max(t.first_response, t.resolution) for p, t in policy.targets.items() if p not in policy.around_the_clock),
        default=timedelta(0),
    )
    if longest.total_seconds() <= guaranteed_business_seconds(calendar):
        return []
    params = {"customer": customer_id, "policy": policy.id}
    return [
        Issue(
            where,
            N_(
                "The business hours of customer {customer} are too few for SLA policy {policy}: its longest target "
                "would not fall due within three years."
            ),
            params,
        )
    ]


HORIZON_WEEKS = 155  # whole weeks surely inside the SLA clock's three-year search (core.sla)


def guaranteed_business_seconds(calendar: BusinessCalendar) -> float:
    """A lower bound of the business seconds in any three years: whole weeks, less a longest day per holiday."""
    days = [
        sum(_minutes(end, closing=True) - _minutes(start) for start, end in intervals) * 60.0
        for intervals in calendar.weekly
    ]
    return HORIZON_WEEKS * sum(days) - len(calendar.holidays) * max(days, default=0.0)


def window_issues(window: MaintenanceWindow) -> list[Issue]:
    if window.ends_at > window.starts_at:
        return []
    return [Issue("ends_at", N_("A maintenance window must end after it starts."))]


def policy_issues(policy: SlaPolicy) -> list[Issue]:
    issues = [
        Issue(f"targets.{p.value}", N_("The policy needs a target for priority {priority}."), {"priority": p.label})
        for p in Priority
        if p not in policy.targets
    ]
    for priority, target in policy.targets.items():
        if target.resolution < target.first_response:
            issues.append(
                Issue(
                    f"targets.{priority.value}",
                    N_("The resolution target cannot be shorter than the first response target."),
                )
            )
    return issues


def rule_issues(rule: RoutingRule) -> list[Issue]:
    issues = destination_issues("destination", rule.destination)
    if not rule.categories and not rule.dispatchers:
        issues.append(Issue("categories", N_("Name at least one event category, or page the dispatchers.")))
    return issues


def destination_issues(name: str, destination: str) -> list[Issue]:
    """``slack:<channel id>``, ``teams:<conversation id>``, ``webhook:https://...`` (plain http only to this
    machine, for local receivers) or ``email:<address>``."""
    kind, sep, target = destination.partition(":")
    if not sep or kind not in DESTINATION_KINDS:
        return [
            Issue(
                name,
                N_(
                    "A destination is slack:<channel id>, teams:<conversation id>, webhook:https://... "
                    "or email:<address>."
                ),
            )
        ]
    if kind == "email":
        return email_issues(name, target)
    if _target_allowed(kind, target):
        return []
    return [Issue(name, _DESTINATION_HINT[kind], {"value": target})]


_DESTINATION_HINT = {
    "slack": N_("{value} is not a Slack channel id such as C0123ABCD."),
    "teams": N_("{value} is not a Teams conversation id such as 19:abc@thread.tacv2."),
    "webhook": N_("{value} is not an https:// URL (plain http:// only for localhost)."),
}


def _target_allowed(kind: str, target: str) -> bool:
    if kind == "slack":
        return SLACK_CHANNEL.match(target) is not None
    if kind == "teams":
        return TEAMS_CONVERSATION.match(target) is not None
    return _webhook_allowed(target)


def _webhook_allowed(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _loopback(host))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
