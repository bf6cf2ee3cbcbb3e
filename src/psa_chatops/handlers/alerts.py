"""Security alert actions from the cards: acknowledge, classify, escalate to the SOC, isolate the device, and open
a ticket for an alert that had none (the intake is ``handlers.alert_ingest``). Each runs in one unit of work: the
alert record, the ticket's events and the outbox rows commit together, or nothing does.

Alert tickets are normal tickets (source ``alert``), so SLA clocks, cards and routing work as for any ticket;
their ``AlertReceived`` event carries the alert link and routes to the rules that take the ``alert`` category.
"""

from __future__ import annotations

from dataclasses import replace

from psa_chatops.core import alert_closeback as closeback
from psa_chatops.core import alert_triage as triage
from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core import ticket_decisions as decide
from psa_chatops.core.alert_triage import AlertRecord, Decision, Outcome
from psa_chatops.core.alerts import AlertAction, AlertStatus
from psa_chatops.core.directory import Role
from psa_chatops.core.errors import N_, ConflictError, DomainError, ForbiddenError, InvalidError
from psa_chatops.core.tickets import Ticket
from psa_chatops.core.tickets_state import Status
from psa_chatops.handlers import actors
from psa_chatops.handlers.alert_ingest import IngestResult, Plan, carry_out
from psa_chatops.handlers.alert_queries import alert_view, load_alert
from psa_chatops.handlers.alert_views import AlertIngestView, AlertView
from psa_chatops.handlers.messagebus import Deps
from psa_chatops.handlers.ports import UnitOfWork
from psa_chatops.handlers.tickets import sla_context


def raw_description(record: AlertRecord) -> str:
    """The vendor's own words, when its payload has a top-level ``description``."""
    text = record.raw.get("description")
    return text if isinstance(text, str) else ""


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
        plan = Plan(0, uow.context, record, existing=True, description=raw_description(record), decision=decision)
        results: dict[int, IngestResult] = {}
        await carry_out(uow, deps, [plan], results, now)
        await uow.commit()
        found = results[0]
        if isinstance(found, DomainError):
            raise found
        return found


async def _save_view(uow: UnitOfWork, record: AlertRecord) -> AlertView:
    await uow.alerts.save(record, actor=uow.context.actor.id)
    view = await alert_view(uow, record)
    await uow.commit()
    return view
