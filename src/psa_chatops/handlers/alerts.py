"""Security alert use-cases: ingest (de-duplicate, resolve, correlate, triage), acknowledge, classify, escalate to
the SOC, and open a ticket for an alert that had none. Each runs in one unit of work: the alert record, the
ticket's events and the outbox rows commit together, or nothing does.

Alert tickets are normal tickets (source ``alert``), so SLA clocks, cards and routing work as for any ticket;
their ``AlertReceived`` event carries the alert link and routes to the rules that take the ``alert`` category.
A duplicate changes only the alert record (count, last seen): it appends nothing to the ticket, so a storm of
copies neither contends on the ticket's version nor sends a notification per copy.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from psa_chatops.core import alert_closeback as closeback
from psa_chatops.core import alert_triage as triage
from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.alert_triage import AlertRecord, Decision, Outcome
from psa_chatops.core.alerts import AlertAction, AlertSignal, AlertStatus
from psa_chatops.core.directory import Role
from psa_chatops.core.errors import N_, ConflictError, ForbiddenError, InvalidError, NotFoundError
from psa_chatops.core.tickets import Ticket
from psa_chatops.core.tickets_state import Source, Status
from psa_chatops.handlers import actors
from psa_chatops.handlers.alert_queries import alert_view, load_alert
from psa_chatops.handlers.alert_views import AlertIngestView, AlertView
from psa_chatops.handlers.messagebus import Deps
from psa_chatops.handlers.ports import UnitOfWork
from psa_chatops.handlers.queries import ticket_view
from psa_chatops.handlers.tickets import sla_context


async def ingest_alert(cmd: c.IngestAlert, uow: UnitOfWork, deps: Deps) -> AlertIngestView:
    signal, actor, now = cmd.signal, uow.context.actor, deps.clock.now()
    async with uow:
        actors.ensure_technician(actor)
        existing = await uow.alerts.get(*signal.key)
        if existing is not None and triage.is_duplicate(signal, existing):  # a storm's hot path: one UPDATE
            _ensure_may_report(uow, existing.customer_id)
            record = await uow.alerts.count_again(*signal.key, seen_at=signal.observed_at or now, actor=actor.id)
            return await _commit(uow, Outcome.DUPLICATE, record, deps, ticket=None)
        customer_id = existing.customer_id if existing else await _resolve_customer(uow, signal)
        _ensure_may_report(uow, customer_id)
        record = await _new_record(uow, signal, customer_id, existing, now)
        overrides = await uow.alerts.severity_overrides(customer_id) if customer_id else {}
        candidate = await _candidate(uow, signal, record, deps, now)
        decision = triage.decide(
            signal, existing=existing, customer_id=customer_id, correlated=candidate, overrides=overrides
        )
        return await _carry_out(uow, deps, decision, record, signal.description, existing=existing is not None, now=now)


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


async def _candidate(
    uow: UnitOfWork, signal: AlertSignal, record: AlertRecord, deps: Deps, now: datetime
) -> AlertRecord | None:
    window = deps.alert_policy.correlation_window
    wanted = signal.action is AlertAction.CREATE_TICKET and record.customer_id and record.correlation_key
    if not wanted or record.correlation_key is None or not window:
        return None
    candidate = await uow.alerts.correlated(record.correlation_key, since=now - window)
    if candidate is None or (candidate.provider, candidate.alert_id) == (record.provider, record.alert_id):
        return None
    return candidate


async def _carry_out(
    uow: UnitOfWork,
    deps: Deps,
    decision: Decision,
    record: AlertRecord,
    description: str,
    *,
    existing: bool,
    now: datetime,
) -> AlertIngestView:
    store, actor = uow.alerts, uow.context.actor.id
    if decision.outcome in (Outcome.IGNORED, Outcome.NOTIFY_ONLY):
        await (store.upgrade if existing else store.insert)(record, actor=actor)
        if decision.outcome is Outcome.NOTIFY_ONLY:
            await store.announce(record, priority=decision.priority, now=now)
        return await _commit(uow, decision.outcome, record, deps, ticket=None)
    if decision.outcome is Outcome.CORRELATED and decision.ticket_number is not None:
        record = replace(record, ticket_number=decision.ticket_number)
        await (store.upgrade if existing else store.insert)(record, actor=actor)
        ticket = await _join(uow, deps, record, decision, now)
        return await _commit(uow, decision.outcome, record, deps, ticket=ticket)
    return await _open(uow, deps, decision, record, description, existing=existing, now=now)


async def _join(uow: UnitOfWork, deps: Deps, record: AlertRecord, decision: Decision, now: datetime) -> Ticket:
    """The correlated alert joins the open ticket; a more severe one raises the ticket's priority."""
    ticket = await uow.tickets.get(decision.ticket_number or 0)
    events: list[ev.Event] = []
    if decision.priority.rank < ticket.priority.rank:
        sla = await sla_context(uow, ticket.customer_id)
        events += decide.change_priority(ticket, decision.priority, now=now, sla=sla)
    events.append(ev.AlertReceived(number=ticket.number, occurred_at=now, alert=record.link(), correlated=True))
    return await uow.tickets.append(ticket, events)


async def _open(
    uow: UnitOfWork,
    deps: Deps,
    decision: Decision,
    record: AlertRecord,
    description: str,
    *,
    existing: bool,
    now: datetime,
) -> AlertIngestView:
    store, actor = uow.alerts, uow.context.actor.id
    customer_id = record.customer_id or deps.alert_policy.triage_customer_id
    if record.customer_id is None and not await store.ensure_triage_customer(customer_id):
        await (store.upgrade if existing else store.insert)(record, actor=actor)  # no queue to file it in: say so
        await store.announce(record, priority=decision.priority, now=now)
        return await _commit(uow, Outcome.NOTIFY_ONLY, record, deps, ticket=None)
    number = await uow.tickets.next_number()
    record = replace(record, ticket_number=number)
    await (store.upgrade if existing else store.insert)(record, actor=actor)  # claims (provider, alert_id) first
    command = c.OpenTicket(
        title=record.title,
        customer_id=customer_id,
        description=description.strip()[: decide.MAX_NOTE],
        priority=decision.priority,
        source=Source.ALERT,
        asset_id=record.asset_id,
        tags=("security", f"alert:{record.provider}", *(("triage",) if record.customer_id is None else ())),
    )
    sla = await sla_context(uow, customer_id)
    events = decide.open_ticket(command, number=number, now=now, sla=sla)
    events.append(ev.AlertReceived(number=number, occurred_at=now, alert=record.link()))
    ticket = await uow.tickets.append(None, events)
    return await _commit(uow, decision.outcome, record, deps, ticket=ticket)


def raw_description(record: AlertRecord) -> str:
    """The vendor's own words, when its payload has a top-level ``description``."""
    text = record.raw.get("description")
    return text if isinstance(text, str) else ""


async def _commit(
    uow: UnitOfWork, outcome: Outcome, record: AlertRecord, deps: Deps, *, ticket: Ticket | None
) -> AlertIngestView:
    view = await alert_view(uow, record)
    tview = await ticket_view(uow, ticket, deps.clock.now()) if ticket is not None else None
    await uow.commit()
    return AlertIngestView(outcome.value, view, tview)


# --- actions from the alert cards ---------------------------------------------------------------------------------


async def _with_ticket(uow: UnitOfWork, provider: str, alert_id: str) -> tuple[AlertRecord, Ticket]:
    actors.ensure_technician(uow.context.actor)
    record = await load_alert(uow, provider, alert_id)
    if record.ticket_number is None:
        raise InvalidError(N_("Alert {id} has no ticket yet; create one first."), id=alert_id)
    ticket = await uow.tickets.get(record.ticket_number)
    actors.ensure_sees_ticket(uow.context.actor, ticket)
    return record, ticket


async def acknowledge_alert(cmd: c.AcknowledgeAlert, uow: UnitOfWork, deps: Deps) -> AlertView:
    """Someone is on it: the alert is acknowledged and a new ticket moves to open."""
    now = deps.clock.now()
    async with uow:
        record, ticket = await _with_ticket(uow, cmd.provider, cmd.alert_id)
        if record.status is not AlertStatus.NEW:
            raise ConflictError(
                N_("Alert {id} is already {status}."), id=record.alert_id, status=triage.status_label(record.status)
            )
        events: list[ev.Event] = [ev.AlertAcknowledged(number=ticket.number, occurred_at=now, alert=record.link())]
        if ticket.status is Status.NEW:
            sla = await sla_context(uow, ticket.customer_id)
            events += decide.change_status(ticket.evolved(events), Status.OPEN, now=now, sla=sla)
        await uow.tickets.append(ticket, events)
        return await _save_view(uow, replace(record, status=AlertStatus.ACKNOWLEDGED))


async def classify_alert(cmd: c.ClassifyAlert, uow: UnitOfWork, deps: Deps) -> AlertView:
    """The verdict closes the ticket, with the classification as its resolution (close-back reads it)."""
    now = deps.clock.now()
    async with uow:
        record, ticket = await _with_ticket(uow, cmd.provider, cmd.alert_id)
        if ticket.status is Status.CLOSED:
            raise ConflictError(N_("Ticket #{number} is already closed."), number=ticket.number)
        events: list[ev.Event] = [
            ev.AlertClassified(
                number=ticket.number, occurred_at=now, alert=record.link(), classification=cmd.classification
            )
        ]
        comment = cmd.comment.strip()
        resolution = f"{cmd.classification.value}: {comment}" if comment else cmd.classification.value
        sla = await sla_context(uow, ticket.customer_id)
        events += decide.change_status(ticket.evolved(events), Status.CLOSED, now=now, sla=sla, resolution=resolution)
        await uow.tickets.append(ticket, events)
        done = replace(record, status=AlertStatus.RESOLVED, classification=cmd.classification)
        return await _save_view(uow, done)


async def escalate_alert(cmd: c.EscalateAlert, uow: UnitOfWork, deps: Deps) -> AlertView:
    now = deps.clock.now()
    async with uow:
        record, ticket = await _with_ticket(uow, cmd.provider, cmd.alert_id)
        if record.status in (AlertStatus.ESCALATED, AlertStatus.RESOLVED) or ticket.status.is_done:
            raise ConflictError(
                N_("Alert {id} is already {status}."), id=record.alert_id, status=triage.status_label(record.status)
            )
        event = ev.AlertEscalated(number=ticket.number, occurred_at=now, alert=record.link(), reason=cmd.reason.strip())
        await uow.tickets.append(ticket, [event])
        return await _save_view(uow, replace(record, status=AlertStatus.ESCALATED))


async def isolate_device(cmd: c.IsolateDevice, uow: UnitOfWork, deps: Deps) -> AlertView:
    """Admins only, behind a confirmation on the card: the vendor cuts the device off the network (outbox row)."""
    now = deps.clock.now()
    async with uow:
        actor = uow.context.actor
        if not (actors.is_system(actor) or (actor.technician is not None and actor.technician.role is Role.ADMIN)):
            actors.ensure_known(actor)
            raise ForbiddenError(N_("Only admins can isolate a device."))
        record, ticket = await _with_ticket(uow, cmd.provider, cmd.alert_id)
        if not closeback.can_isolate(record) or record.device_id is None:
            raise InvalidError(
                N_("{provider} cannot isolate the device of alert {id}."), provider=record.provider, id=record.alert_id
            )
        event = ev.AlertIsolationRequested(
            number=ticket.number, occurred_at=now, alert=record.link(), device=record.device_id
        )
        after = await uow.tickets.append(ticket, [event])
        await uow.alerts.isolate(record, event_id=f"{after.number}:{after.version}", now=now)
        return await _save_view(uow, record)


async def open_alert_ticket(cmd: c.OpenAlertTicket, uow: UnitOfWork, deps: Deps) -> AlertIngestView:
    """The card's "Create ticket" for a ``notify_only`` alert: the same path as an alert that asks for one."""
    now = deps.clock.now()
    async with uow:
        actors.ensure_technician(uow.context.actor)
        record = await load_alert(uow, cmd.provider, cmd.alert_id)
        if record.ticket_number is not None:
            raise ConflictError(
                N_("Alert {id} already has ticket #{number}."), id=record.alert_id, number=record.ticket_number
            )
        overrides = await uow.alerts.severity_overrides(record.customer_id) if record.customer_id else {}
        outcome = Outcome.NEW_TICKET if record.customer_id else Outcome.TRIAGE
        decision = Decision(outcome, triage.priority_for(record.severity, overrides))
        record = replace(record, action=AlertAction.CREATE_TICKET, status=AlertStatus.NEW)
        return await _open(uow, deps, decision, record, raw_description(record), existing=True, now=now)


async def _save_view(uow: UnitOfWork, record: AlertRecord) -> AlertView:
    await uow.alerts.save(record, actor=uow.context.actor.id)
    view = await alert_view(uow, record)
    await uow.commit()
    return view
