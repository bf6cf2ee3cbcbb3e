"""API v1: on-site appointments of a ticket, and across tickets for a technician's calendar.

``POST /tickets/{number}/appointments`` books a visit, ``PATCH .../{id}`` moves it (``If-Match`` with the ETag you
read), ``DELETE .../{id}`` cancels it (``?reason=``); ``GET /appointments?technician=&from=&to=`` lists the scheduled
ones of every ticket the caller sees. Each change is a ticket event (the ticket's history shows it) and, with a
Microsoft 365 calendar configured, is synced there through the outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from psa_chatops.bot.api import appointments, tickets
from psa_chatops.bot.api.operations import Call, Operation, Reply
from psa_chatops.bot.api.v1_directory_models import ListParams, Page, Patch, RefId
from psa_chatops.bot.api.v1_models import Strict, TicketNumber
from psa_chatops.core.appointments import MAX_LOCATION, MAX_NOTES, MAX_REASON, MAX_TITLE, AppointmentStatus
from psa_chatops.handlers.appointments import AppointmentView

# --- models ---------------------------------------------------------------------------------------------------------


class Appointment(BaseModel):
    id: int = Field(description="numbered per ticket: 1, 2, ...")
    ticket_number: int
    ticket_title: str
    customer_id: str
    customer_name: str
    technician_id: str
    technician: str = Field(description="the technician's name")
    starts_at: datetime
    ends_at: datetime
    location: str = Field(description="the address to visit")
    title: str
    notes: str
    status: AppointmentStatus
    cancel_reason: str | None
    created_by: str = Field(description="the actor who booked it")
    created_at: datetime
    updated_at: datetime
    version: int


class AppointmentCreate(Strict):
    technician_id: RefId = Field(examples=["tech-1"])
    starts_at: AwareDatetime = Field(examples=["2026-12-01T09:00:00+01:00"])
    ends_at: AwareDatetime = Field(examples=["2026-12-01T11:00:00+01:00"])
    location: str = Field(min_length=1, max_length=MAX_LOCATION, examples=["Industriestr. 5, 70565 Stuttgart"])
    title: str = Field(default="", max_length=MAX_TITLE, description="empty: the ticket's title")
    notes: str = Field(default="", max_length=MAX_NOTES, description="for the technicians; not in customer feeds")


class AppointmentUpdate(Patch):
    """Only the fields you send change; moving only ``starts_at`` keeps the duration."""

    technician_id: RefId | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    location: str | None = Field(default=None, min_length=1, max_length=MAX_LOCATION)
    title: str | None = Field(default=None, max_length=MAX_TITLE)
    notes: str | None = Field(default=None, max_length=MAX_NOTES)


class AppointmentList(BaseModel):
    items: list[Appointment]


class AppointmentPage(Page):
    items: list[Appointment]


class AppointmentKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, le=2**53)
    id: int = Field(ge=1, le=2**31 - 1)


class AppointmentCancelParams(AppointmentKey):
    reason: str = Field(default="", max_length=MAX_REASON, description="why the visit is off (in the history)")


class AppointmentListParams(ListParams):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    technician: RefId | None = Field(default=None, description="a technician's id")
    customer_id: RefId | None = None
    starts_from: AwareDatetime | None = Field(default=None, alias="from", description="appointments ending after")
    starts_before: AwareDatetime | None = Field(default=None, alias="to", description="... and starting before")


# --- presenters and handlers ----------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def present(view: AppointmentView) -> Appointment:
    a = view.appointment
    return Appointment(
        id=a.id,
        ticket_number=a.ticket_number,
        ticket_title=view.ticket_title,
        customer_id=a.customer_id,
        customer_name=view.customer_name,
        technician_id=a.technician_id,
        technician=view.technician_name,
        starts_at=_utc(a.starts_at),
        ends_at=_utc(a.ends_at),
        location=a.location,
        title=a.title,
        notes=a.notes,
        status=a.status,
        cancel_reason=a.cancel_reason,
        created_by=a.created_by,
        created_at=_utc(a.created_at or a.starts_at),
        updated_at=_utc(a.updated_at or a.starts_at),
        version=a.version,
    )


def _reply(view: AppointmentView, *, status: int = 200) -> Reply:
    a = view.appointment
    path = f"/tickets/{a.ticket_number}/appointments/{a.id}"
    headers = {"Location": f"/api/v1{path}"} if status == 201 else {}
    return Reply(
        present(view),
        status=status,
        headers=headers,
        etag=appointments.etag(view),
        resource=f"ticket:{a.ticket_number}:appointment:{a.id}",
        cache_tags=tickets.tags(a.ticket_number),
    )


async def create(call: Call) -> Reply:
    return _reply(await appointments.schedule(call, call.params.number, call.body), status=201)


async def list_for_ticket(call: Call) -> Reply:
    number = call.params.number
    found = await appointments.of_ticket(call, number)
    return Reply(
        AppointmentList(items=[present(v) for v in found]),
        resource=f"ticket:{number}",
        cache_tags=tickets.tags(number),
    )


async def get_one(call: Call) -> Reply:
    return _reply(await appointments.one(call, call.params.number, call.params.id))


async def update(call: Call) -> Reply:
    changes: dict[str, Any] = call.body.changes()
    return _reply(await appointments.reschedule(call, call.params.number, call.params.id, changes))


async def delete(call: Call) -> Reply:
    p = call.params
    await appointments.cancel(call, p.number, p.id, p.reason)
    return Reply(None, status=204, resource=f"ticket:{p.number}:appointment:{p.id}")


async def search(call: Call) -> Reply:
    p = call.params
    page = await appointments.search(
        call,
        technician_id=p.technician,
        customer_id=p.customer_id,
        starts_from=p.starts_from,
        starts_before=p.starts_before,
        limit=p.limit,
        cursor=p.cursor,
    )
    headers = {}
    if page.next_cursor:
        headers["Link"] = f'<{call.request.rel_url.update_query(cursor=page.next_cursor)}>; rel="next"'
    body = AppointmentPage(items=[present(v) for v in page.items], next_cursor=page.next_cursor)
    return Reply(body, headers=headers, cache_tags=("tickets",))


READ, WRITE = ("tickets:read",), ("tickets:write",)
NOT_FOUND = (401, 403, 404)
ONE = "/tickets/{number}/appointments/{id}"
OPERATIONS = [
    Operation(
        "POST", "/tickets/{number}/appointments", "scheduleAppointment", "Book an on-site appointment",
        "appointments", create, scopes=WRITE, params=TicketNumber, body=AppointmentCreate, response=Appointment,
        status=201, errors=(*NOT_FOUND, 409, 422),
        description="A technician's visit at the ticket's customer. Technicians book themselves, dispatchers and "
        "admins anyone who works for the customer; a technician who is booked then is a 409.",
    ),
    Operation(
        "GET", "/tickets/{number}/appointments", "listTicketAppointments", "The ticket's appointments",
        "appointments", list_for_ticket, scopes=READ, params=TicketNumber, response=AppointmentList, cacheable=True,
        errors=NOT_FOUND, description="Earliest first, cancelled ones included.",
    ),
    Operation(
        "GET", ONE, "getAppointment", "Get an appointment", "appointments", get_one,
        scopes=READ, params=AppointmentKey, response=Appointment, cacheable=True, errors=NOT_FOUND,
        description="The `ETag` names the appointment's version; send it as `If-Match` on PATCH or DELETE.",
    ),
    Operation(
        "PATCH", ONE, "rescheduleAppointment", "Move or change an appointment", "appointments", update,
        scopes=WRITE, params=AppointmentKey, body=AppointmentUpdate, response=Appointment, if_match=True,
        errors=(*NOT_FOUND, 409, 412, 422),
    ),
    Operation(
        "DELETE", ONE, "cancelAppointment", "Cancel an appointment", "appointments", delete,
        scopes=WRITE, params=AppointmentCancelParams, status=204, if_match=True, errors=(*NOT_FOUND, 409, 412, 422),
        description="It stays in the ticket's history and list as cancelled, and leaves the calendars.",
    ),
    Operation(
        "GET", "/appointments", "listAppointments", "Appointments across tickets", "appointments", search,
        scopes=READ, params=AppointmentListParams, response=AppointmentPage, cacheable=True, errors=(400, 401, 403),
        description="Scheduled appointments of the tickets you see, earliest first; `technician`, `from` and `to` "
        "give one technician's calendar. Page with `cursor` (also in the `Link: rel=next` header).",
    ),
]  # fmt: skip
