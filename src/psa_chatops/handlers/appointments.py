"""Appointment use-cases: schedule, reschedule and cancel an on-site visit for a ticket, and read them.

Each change appends a ticket event (``core.appointments`` says why), projects it into ``appointments`` and, with a
calendar configured (``Deps.calendar``), queues its Microsoft 365 sync, all in the unit of work's one transaction.
Technicians book themselves; dispatchers, admins and API clients book anyone who works for the ticket's customer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from psa_chatops.core import appointments as decide
from psa_chatops.core import commands as c
from psa_chatops.core import events as ev
from psa_chatops.core.appointments import Appointment
from psa_chatops.core.directory import Role
from psa_chatops.core.errors import N_, ForbiddenError, InvalidError, NotFoundError, PreconditionFailedError
from psa_chatops.core.tickets import Ticket
from psa_chatops.handlers import actors
from psa_chatops.handlers.appointment_ports import AppointmentFilter
from psa_chatops.handlers.messagebus import Deps
from psa_chatops.handlers.ports import Actor, UnitOfWork


@dataclass(frozen=True)
class AppointmentView:
    """An appointment with the names a card or an API client shows."""

    appointment: Appointment
    technician_name: str
    customer_name: str
    ticket_title: str


async def _load(uow: UnitOfWork, number: int) -> Ticket:
    ticket = await uow.tickets.get(number)
    actors.ensure_sees_ticket(uow.context.actor, ticket)
    return ticket


def _ensure_may_book(actor: Actor, technician_id: str) -> None:
    actors.ensure_technician(actor)
    tech = actor.technician
    if tech and tech.role is Role.TECHNICIAN and tech.id != technician_id:
        raise ForbiddenError(N_("Only dispatchers and admins can book appointments for others."))


async def _ensure_works_for(uow: UnitOfWork, technician_id: str, ticket: Ticket) -> None:
    technician = await uow.directory.technician(technician_id)
    if not technician.can_see_customer(ticket.customer_id):
        raise InvalidError(N_("{name} does not work for this ticket's customer."), name=technician.name)


def _ensure_version(current: Appointment, expected: int | None) -> None:
    if expected is not None and expected != current.version:
        raise PreconditionFailedError(
            N_("Appointment {id} of ticket #{number} has changed since you read it (version {current}, you sent "
               "{expected})."),
            id=current.id,
            number=current.ticket_number,
            current=current.version,
            expected=expected,
        )  # fmt: skip


async def view_of(uow: UnitOfWork, appointment: Appointment, ticket_title: str) -> AppointmentView:
    try:
        technician = (await uow.directory.technician(appointment.technician_id)).name
    except NotFoundError:  # a technician removed since: shown by id
        technician = appointment.technician_id
    customer = await uow.directory.customer(appointment.customer_id)
    return AppointmentView(appointment, technician, customer.name, ticket_title)


async def schedule_appointment(cmd: c.ScheduleAppointment, uow: UnitOfWork, deps: Deps) -> AppointmentView:
    async with uow:
        actor = uow.context.actor
        _ensure_may_book(actor, cmd.technician_id)
        ticket = await _load(uow, cmd.number)
        await _ensure_works_for(uow, cmd.technician_id, ticket)
        decide.ensure_aware(cmd.starts_at, cmd.ends_at)
        busy = await uow.appointments.busy(cmd.technician_id, cmd.starts_at, cmd.ends_at)
        appointment_id = await uow.appointments.next_id(ticket.number)
        events = decide.schedule(ticket, cmd, appointment_id=appointment_id, busy=busy, now=deps.clock.now())
        return await _append(uow, deps, ticket, events, appointment_id)


async def reschedule_appointment(cmd: c.RescheduleAppointment, uow: UnitOfWork, deps: Deps) -> AppointmentView:
    async with uow:
        actor = uow.context.actor
        actors.ensure_technician(actor)
        ticket = await _load(uow, cmd.number)
        current = await uow.appointments.get(ticket.number, cmd.appointment_id)
        _ensure_version(current, cmd.expected_version)
        _ensure_may_book(actor, current.technician_id)
        technician_id = cmd.technician_id or current.technician_id
        if technician_id != current.technician_id:
            _ensure_may_book(actor, technician_id)
            await _ensure_works_for(uow, technician_id, ticket)
        starts_at, ends_at = decide.proposed_times(current, cmd)
        decide.ensure_aware(starts_at, ends_at)
        busy = await uow.appointments.busy(technician_id, starts_at, ends_at)
        events = decide.reschedule(ticket, current, cmd, busy=busy, now=deps.clock.now())
        return await _append(uow, deps, ticket, events, current.id)


async def cancel_appointment(cmd: c.CancelAppointment, uow: UnitOfWork, deps: Deps) -> AppointmentView:
    async with uow:
        actor = uow.context.actor
        actors.ensure_technician(actor)
        ticket = await _load(uow, cmd.number)
        current = await uow.appointments.get(ticket.number, cmd.appointment_id)
        _ensure_version(current, cmd.expected_version)
        _ensure_may_book(actor, current.technician_id)
        events = decide.cancel(ticket, current, cmd, now=deps.clock.now())
        return await _append(uow, deps, ticket, events, current.id)


async def _append(
    uow: UnitOfWork, deps: Deps, ticket: Ticket, events: list[ev.Event], appointment_id: int
) -> AppointmentView:
    if events:
        ticket = await uow.tickets.append(ticket, events)
        await uow.appointments.record(ticket, events, actor=uow.context.actor.id, calendar=deps.calendar)
    view = await view_of(uow, await uow.appointments.get(ticket.number, appointment_id), ticket.title)
    await uow.commit()
    return view


# --- reads ----------------------------------------------------------------------------------------------------------


async def ticket_appointments(number: int, *, uow: UnitOfWork, include_cancelled: bool = True) -> list[AppointmentView]:
    """A ticket's appointments (cancelled ones too, unless asked otherwise), earliest first."""
    async with uow:
        actors.ensure_known(uow.context.actor)
        ticket = await _load(uow, number)
        found = await uow.appointments.find(
            AppointmentFilter(ticket_number=number, include_cancelled=include_cancelled, limit=1000)
        )
        return [await view_of(uow, a, ticket.title) for a in found]


async def ticket_appointment(number: int, appointment_id: int, *, uow: UnitOfWork) -> AppointmentView:
    async with uow:
        actors.ensure_known(uow.context.actor)
        ticket = await _load(uow, number)
        return await view_of(uow, await uow.appointments.get(number, appointment_id), ticket.title)


async def find_appointments(query: AppointmentFilter, *, uow: UnitOfWork) -> list[AppointmentView]:
    """Appointments across tickets, limited to the customers the actor sees."""
    async with uow:
        actor = uow.context.actor
        actors.ensure_technician(actor)
        visible = actors.visible_customers(actor)
        if visible is not None:
            allowed = set(visible) if query.customer_ids is None else set(visible) & set(query.customer_ids)
            query = replace(query, customer_ids=sorted(allowed))
        found = await uow.appointments.find(query)
        titles: dict[int, str] = {}
        views = []
        for appointment in found:
            if appointment.ticket_number not in titles:
                titles[appointment.ticket_number] = (await uow.tickets.get(appointment.ticket_number)).title
            views.append(await view_of(uow, appointment, titles[appointment.ticket_number]))
        return views


def ensure_period(starts_from: datetime | None, starts_before: datetime | None) -> None:
    if starts_from is not None and starts_before is not None and starts_before <= starts_from:
        raise InvalidError(N_("The end of the period must be after its start."))
