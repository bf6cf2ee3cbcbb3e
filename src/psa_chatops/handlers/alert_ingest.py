"""Security alert intake: de-duplicate, resolve, correlate and triage a batch of alerts in one unit of work.

Alerts come in storms. Requests that arrive while a batch is being written wait for the next one
(``handlers.alert_batching``), so under load one transaction carries many alerts with a handful of statements: one
query for the alerts already known, one for correlation candidates, one counter bump for all ticket numbers, and
one INSERT each for the alert rows, the tickets' events, the ticket rows and the outbox rows. A single alert takes
the same path as a batch of one.

Alerts that could affect each other never share a round: a second copy of the same alert, or a second alert on the
same machine and threat, runs in a following round of the same transaction and sees what the first one wrote.
Each alert acts for its own request (actor, correlation id, audit line) and fails alone when the sender may not
report it; a failure while writing fails the batch, and the batcher then runs its alerts one by one.

A duplicate changes only the alert record (count, last seen): it appends nothing to the ticket, so a storm of copies
neither contends on the ticket's version nor sends a notification per copy.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from psa_chatops.core import alert_triage as triage
from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.alert_triage import AlertRecord, Decision, Outcome
from psa_chatops.core.alerts import AlertAction, AlertSignal, AlertStatus
from psa_chatops.core.errors import N_, DomainError, ForbiddenError, NotFoundError
from psa_chatops.core.tickets import Ticket
from psa_chatops.core.tickets_state import Source
from psa_chatops.handlers import actors
from psa_chatops.handlers.alert_queries import alert_view
from psa_chatops.handlers.alert_views import AlertIngestView
from psa_chatops.handlers.messagebus import Deps
from psa_chatops.handlers.ports import CommandContext, UnitOfWork
from psa_chatops.handlers.queries import ticket_view
from psa_chatops.handlers.tickets import sla_context

T = TypeVar("T")
Arrival = tuple[AlertSignal, CommandContext]
IngestResult = AlertIngestView | DomainError


@dataclass(frozen=True, kw_only=True)
class IngestAlertBatch(c.Command):
    """Alerts from several requests, each with the context of the request that brought it."""

    items: tuple[Arrival, ...]


@dataclass
class Plan:
    """What one alert that is not a plain duplicate becomes, decided before anything is written."""

    index: int
    context: CommandContext
    record: AlertRecord
    existing: bool  # recorded before (without a ticket): an UPDATE, not an INSERT
    description: str
    decision: Decision | None = None


async def ingest_alert_batch(cmd: IngestAlertBatch, uow: UnitOfWork, deps: Deps) -> tuple[IngestResult, ...]:
    """One result per item, in order: its view, or the error that stopped it alone."""
    now = deps.clock.now()
    results: dict[int, IngestResult] = {}
    async with uow:
        waiting = list(enumerate(cmd.items))
        while waiting:
            waiting = await _round(uow, deps, waiting, results, now)
        await uow.commit()
    return tuple(results[i] for i in range(len(cmd.items)))


async def _round(
    uow: UnitOfWork,
    deps: Deps,
    items: list[tuple[int, Arrival]],
    results: dict[int, IngestResult],
    now: datetime,
) -> list[tuple[int, Arrival]]:
    """One pass over alerts that cannot affect each other; returns those that wait for the next pass."""
    items, later = apart(items, lambda item: item[1][0].key)
    known = await uow.alerts.get_many([signal.key for _, (signal, _) in items])
    plans: list[Plan] = []
    for index, (signal, context) in items:
        existing = known.get(signal.key)
        try:
            with uow.acting_for(context):
                actors.ensure_technician(context.actor)
                if existing is not None and triage.is_duplicate(signal, existing):  # a storm's hot path
                    results[index] = await _count_again(uow, deps, signal, existing, now)
                    continue
                customer_id = existing.customer_id if existing else await _resolve_customer(uow, signal)
                _ensure_may_report(uow, customer_id)
                record = await _new_record(uow, signal, customer_id, existing, now)
        except DomainError as exc:
            results[index] = exc
            continue
        plans.append(Plan(index, context, record, existing is not None, signal.description))
    seeking = [p for p in plans if _seeks_correlation(p, deps)]
    seeking, clashing = apart(seeking, lambda p: p.record.correlation_key)
    if clashing:  # the same machine and threat twice in this round: the later one joins the earlier's ticket
        plans = [p for p in plans if all(p is not q for q in clashing)]
        arrivals = dict(items)
        later += [(p.index, arrivals[p.index]) for p in clashing]
    keys = [p.record.correlation_key for p in seeking if p.record.correlation_key]
    candidates = await uow.alerts.correlated_many(keys, since=now - deps.alert_policy.correlation_window)
    signals = dict(items)
    for plan in plans:
        record = plan.record
        overrides = await uow.alerts.severity_overrides(record.customer_id) if record.customer_id else {}
        candidate = candidates.get(record.correlation_key or "") if any(plan is p for p in seeking) else None
        if candidate is not None and (candidate.provider, candidate.alert_id) == (record.provider, record.alert_id):
            candidate = None
        plan.decision = triage.decide(
            signals[plan.index][0],
            existing=known.get((record.provider, record.alert_id)),
            customer_id=record.customer_id,
            correlated=candidate,
            overrides=overrides,
        )
    await carry_out(uow, deps, plans, results, now)
    return sorted(later, key=lambda item: item[0])


def apart(items: Sequence[T], key: Callable[[T], Hashable]) -> tuple[list[T], list[T]]:
    """(the first item of each key, the rest), in order."""
    seen: set[Hashable] = set()
    first: list[T] = []
    rest: list[T] = []
    for item in items:
        k = key(item)
        (rest if k in seen else first).append(item)
        seen.add(k)
    return first, rest


async def _count_again(
    uow: UnitOfWork, deps: Deps, signal: AlertSignal, existing: AlertRecord, now: datetime
) -> AlertIngestView:
    _ensure_may_report(uow, existing.customer_id)
    record = await uow.alerts.count_again(*signal.key, seen_at=signal.observed_at or now, actor=uow.context.actor.id)
    return await ingest_view(uow, Outcome.DUPLICATE, record, ticket=None, now=now)


def _ensure_may_report(uow: UnitOfWork, customer_id: str | None) -> None:
    if customer_id is not None and not actors.can_see_customer(uow.context.actor, customer_id):
        raise ForbiddenError(N_("You cannot report alerts for customer {id}."), id=customer_id)


async def _resolve_customer(uow: UnitOfWork, signal: AlertSignal) -> str | None:
    """Our customer id as sent, else the vendor account (or the sent id) through the mapping table, else none."""
    if signal.customer_ref and await _known_customer(uow, signal.customer_ref):
        return signal.customer_ref
    for account in (signal.vendor_account, signal.customer_ref):
        if account:
            found = await uow.alerts.customer_for_account(signal.provider, account)
            if found is not None:
                return found
    return None


async def _known_customer(uow: UnitOfWork, customer_id: str) -> bool:
    """Through the directory's versioned cache: no query per alert for the customers we know."""
    try:
        await uow.directory.customer(customer_id)
    except NotFoundError:
        return False
    return True


async def _new_record(
    uow: UnitOfWork, signal: AlertSignal, customer_id: str | None, existing: AlertRecord | None, now: datetime
) -> AlertRecord:
    asset = None
    if customer_id and signal.affected_asset:
        asset = triage.match_asset(
            signal.affected_asset, await uow.alerts.assets_named(customer_id, signal.affected_asset)
        )
    seen = signal.observed_at or now
    key = None
    if triage.has_machine(signal):
        key = triage.correlation_key(
            customer_id, asset_id=asset.id if asset else None, affected_asset=signal.affected_asset,
            threat=signal.threat_type,
        )  # fmt: skip
    return AlertRecord(
        provider=signal.provider,
        alert_id=signal.alert_id,
        severity=signal.severity,
        threat_type=signal.threat_type,
        title=triage.ticket_title(signal),
        first_seen=existing.first_seen if existing else seen,
        last_seen=max(seen, existing.last_seen) if existing else seen,
        count=existing.count + 1 if existing else 1,
        action=signal.action,
        status=AlertStatus.IGNORED if signal.action is AlertAction.IGNORE else AlertStatus.NEW,
        customer_id=customer_id,
        affected_asset=signal.affected_asset,
        asset_id=asset.id if asset else None,
        vendor_account=signal.vendor_account,
        customer_ref=signal.customer_ref,
        correlation_key=key,
        raw=signal.raw,
        device_id=signal.device_id or (existing.device_id if existing else None),
    )


def _seeks_correlation(plan: Plan, deps: Deps) -> bool:
    record = plan.record
    wanted = record.action is AlertAction.CREATE_TICKET and record.customer_id and record.correlation_key
    return bool(wanted and deps.alert_policy.correlation_window)


async def carry_out(
    uow: UnitOfWork, deps: Deps, plans: Sequence[Plan], results: dict[int, IngestResult], now: datetime
) -> None:
    """Write what the plans decided: ticket numbers in one bump, new alert rows in one INSERT, new tickets in one
    ``open_many``; a failure here fails the whole batch (nothing of it commits)."""
    opening = await _number_tickets(uow, deps, plans)
    new = [(p.record, p.context.actor.id) for p in plans if not p.existing]
    if new:  # claims each (provider, alert_id) before its ticket
        await uow.alerts.insert_many(new)
    tickets: dict[int, Ticket] = {}
    for plan in plans:
        with uow.acting_for(plan.context):
            if plan.existing:
                await uow.alerts.upgrade(plan.record, actor=plan.context.actor.id)
            if _decided(plan).outcome is Outcome.NOTIFY_ONLY:
                await uow.alerts.announce(plan.record, priority=_decided(plan).priority, now=now)
            if _decided(plan).outcome is Outcome.CORRELATED:
                tickets[plan.index] = await _join(uow, plan.record, _decided(plan), now)
    if opening:
        batch = [(p.context, await _opening_events(uow, deps, p, now)) for p in opening]
        tickets.update(zip((p.index for p in opening), await uow.tickets.open_many(batch), strict=True))
    for plan in plans:
        with uow.acting_for(plan.context):
            ticket = tickets.get(plan.index)
            results[plan.index] = await ingest_view(uow, _decided(plan).outcome, plan.record, ticket=ticket, now=now)


async def _number_tickets(uow: UnitOfWork, deps: Deps, plans: Sequence[Plan]) -> list[Plan]:
    """Give each plan its ticket number (all new ones in one counter bump); returns the plans that open one."""
    opening = [p for p in plans if _decided(p).opens_ticket]
    for plan in opening:  # no customer and no triage queue to file it in: announce it instead, and say so
        if plan.record.customer_id is None:
            with uow.acting_for(plan.context):
                if not await uow.alerts.ensure_triage_customer(deps.alert_policy.triage_customer_id):
                    plan.decision = replace(_decided(plan), outcome=Outcome.NOTIFY_ONLY)
    opening = [p for p in opening if _decided(p).opens_ticket]
    numbers = await uow.tickets.next_numbers(len(opening)) if opening else []
    for plan, number in zip(opening, numbers, strict=True):
        plan.record = replace(plan.record, ticket_number=number)
    for plan in plans:
        if _decided(plan).outcome is Outcome.CORRELATED:
            plan.record = replace(plan.record, ticket_number=_decided(plan).ticket_number)
    return opening


def _decided(plan: Plan) -> Decision:
    if plan.decision is None:
        raise RuntimeError("a plan is carried out before it is decided")
    return plan.decision


async def _join(uow: UnitOfWork, record: AlertRecord, decision: Decision, now: datetime) -> Ticket:
    """The correlated alert joins the open ticket; a more severe one raises the ticket's priority."""
    ticket = await uow.tickets.get(decision.ticket_number or 0)
    events: list[ev.Event] = []
    if decision.priority.rank < ticket.priority.rank:
        sla = await sla_context(uow, ticket.customer_id)
        events += decide.change_priority(ticket, decision.priority, now=now, sla=sla)
    events.append(ev.AlertReceived(number=ticket.number, occurred_at=now, alert=record.link(), correlated=True))
    return await uow.tickets.append(ticket, events)


async def _opening_events(uow: UnitOfWork, deps: Deps, plan: Plan, now: datetime) -> list[ev.Event]:
    record, number = plan.record, plan.record.ticket_number
    if number is None:
        raise RuntimeError("a ticket is opened without a number")
    customer_id = record.customer_id or deps.alert_policy.triage_customer_id
    command = c.OpenTicket(
        title=record.title,
        customer_id=customer_id,
        description=plan.description.strip()[: decide.MAX_NOTE],
        priority=_decided(plan).priority,
        source=Source.ALERT,
        asset_id=record.asset_id,
        tags=("security", f"alert:{record.provider}", *(("triage",) if record.customer_id is None else ())),
    )
    events = decide.open_ticket(command, number=number, now=now, sla=await sla_context(uow, customer_id))
    events.append(ev.AlertReceived(number=number, occurred_at=now, alert=record.link()))
    return events


async def ingest_view(
    uow: UnitOfWork, outcome: Outcome, record: AlertRecord, *, ticket: Ticket | None, now: datetime
) -> AlertIngestView:
    """As of the batch's moment (``now``): a ticket it opened shows its SLA clocks at zero."""
    view = await alert_view(uow, record)
    tview = await ticket_view(uow, ticket, now) if ticket is not None else None
    return AlertIngestView(outcome.value, view, tview)
