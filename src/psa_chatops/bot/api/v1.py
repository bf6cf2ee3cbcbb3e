"""API v1: the ticket operations, each declared once (models, scopes, behaviour) and presented in v1's schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from psa_chatops.bot.api import tickets, v1_appointments, v1_resources
from psa_chatops.bot.api import v1_models as m
from psa_chatops.bot.api.operations import Api, Call, Operation, Reply
from psa_chatops.core.sla import SlaTargetName
from psa_chatops.handlers.ports import RecordedEvent
from psa_chatops.handlers.views import NoteView, TicketSummaryView, TicketView

VERSION = "v1"
ROOT = "/api/v1"


def present_ticket(view: TicketView) -> m.Ticket:
    return m.Ticket(
        number=view.number,
        title=view.title,
        description=view.description,
        status=view.status,
        priority=view.priority,
        source=view.source,
        customer_id=view.customer_id,
        customer_name=view.customer_name,
        contact_id=view.contact_id,
        contact=view.contact,
        asset_id=view.asset_id,
        asset=view.asset,
        assignee_id=view.assignee_id,
        assignee=view.assignee,
        tags=list(view.tags),
        resolution=view.resolution,
        escalation_level=view.escalation_level,
        sla=[
            m.Sla(target=SlaTargetName(s.target), due_at=s.due_at, percent=s.percent, state=m.SlaState(s.state))
            for s in view.sla
        ],
        recent_notes=[present_note(n) for n in view.notes],
        created_at=view.created_at,
        updated_at=view.updated_at,
        version=view.version,
        actions=list(view.actions),
    )


def present_note(note: NoteView) -> m.Note:
    return m.Note(
        id=note.id,
        body=note.body,
        visibility=note.visibility,
        author=note.author,
        created_at=note.created_at,
    )


def present_summary(s: TicketSummaryView) -> m.TicketSummary:
    return m.TicketSummary(
        number=s.number,
        title=s.title,
        status=s.status,
        priority=s.priority,
        customer_id=s.customer_id,
        customer_name=s.customer_name,
        assignee_id=s.assignee_id,
        assignee=s.assignee,
        next_due_at=s.next_due_at,
        sla_state=s.sla_state,
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def present_event(record: RecordedEvent) -> m.Event:
    from psa_chatops.core.events import to_payload

    return m.Event(
        event_id=record.event_id,
        type=record.event.type,
        version=record.version,
        occurred_at=record.event.occurred_at,
        actor=record.actor,
        correlation_id=record.correlation_id,
        causation_id=record.causation_id,
        data=to_payload(record.event),
    )


def ticket_reply(view: TicketView, *, status: int = 200, root: str = ROOT, data: Any = None) -> Reply:
    headers = {"Location": f"{root}/tickets/{view.number}"} if status == 201 else {}
    return Reply(
        data if data is not None else present_ticket(view),
        status=status,
        headers=headers,
        etag=tickets.ticket_etag(view),
        resource=f"ticket:{view.number}",
        cache_tags=tickets.tags(view.number),
    )


async def list_tickets(call: Call) -> Reply:
    return await ticket_page(call, present_summary, m.TicketPage)


async def ticket_page(call: Call, present: Callable[[TicketSummaryView], Any], page_model: type[Any]) -> Reply:
    page = await tickets.search(call, call.params)
    body = page_model(items=[present(s) for s in page.items], total=page.total, next_cursor=page.next_cursor)
    headers = {}
    if page.next_cursor:
        query = call.request.rel_url.update_query(cursor=page.next_cursor)
        headers["Link"] = f'<{query}>; rel="next"'
    return Reply(body, headers=headers, cache_tags=("tickets",))


async def get_ticket(call: Call) -> Reply:
    return ticket_reply(await tickets.get(call, call.params.number))


async def create_ticket(call: Call) -> Reply:
    return ticket_reply(await tickets.create(call, call.body), status=201)


async def update_ticket(call: Call) -> Reply:
    b = call.body
    view = await tickets.update(
        call,
        call.params.number,
        status=b.status,
        priority=b.priority,
        assignee_id=b.assignee_id,
        resolution=b.resolution,
    )
    return ticket_reply(view)


async def list_notes(call: Call) -> Reply:
    view = await tickets.get(call, call.params.number)
    reply = ticket_reply(view, data=m.NotePage(items=[present_note(n) for n in view.notes]))
    reply.etag = None  # the notes list has its own representation: hash it
    return reply


async def add_note(call: Call) -> Reply:
    return ticket_reply(await tickets.add_note(call, call.params.number, call.body), status=201)


async def escalate(call: Call) -> Reply:
    return ticket_reply(await tickets.escalate(call, call.params.number, call.body), status=201)


async def list_events(call: Call) -> Reply:
    number = call.params.number
    events = await tickets.history(call, number)
    return Reply(
        m.EventPage(items=[present_event(r) for r in events]),
        resource=f"ticket:{number}",
        cache_tags=tickets.tags(number),
    )


READ, WRITE = ("tickets:read",), ("tickets:write",)
NOT_FOUND = (401, 403, 404)
OPERATIONS = [
    Operation(
        "GET", "/tickets", "listTickets", "List tickets", "tickets", list_tickets,
        scopes=READ, params=m.TicketListParams, response=m.TicketPage, cacheable=True, errors=(400, 401, 403),
        description="Filter by status, priority, customer, assignee and text; sort; page with `cursor` "
        "(also in the `Link: rel=next` header). Pages are stable while tickets are being opened.",
    ),
    Operation(
        "POST", "/tickets", "createTicket", "Open a ticket", "tickets", create_ticket,
        scopes=WRITE, body=m.TicketCreate, response=m.Ticket, status=201, errors=(401, 403, 404, 409, 422),
        description="Send an `Idempotency-Key` header to retry safely: the same key and body return the first "
        "response, the same key with another body is refused (422).",
    ),
    Operation(
        "GET", "/tickets/{number}", "getTicket", "Get a ticket", "tickets", get_ticket,
        scopes=READ, params=m.TicketNumber, response=m.Ticket, cacheable=True, errors=NOT_FOUND,
        description="The `ETag` names the ticket's version; send it as `If-None-Match` (304 when unchanged) or "
        "as `If-Match` on PATCH.",
    ),
    Operation(
        "PATCH", "/tickets/{number}", "updateTicket", "Change status, priority or assignee", "tickets",
        update_ticket, scopes=WRITE, params=m.TicketNumber, body=m.TicketUpdate, response=m.Ticket, if_match=True,
        errors=(*NOT_FOUND, 409, 412, 422),
    ),
    Operation(
        "GET", "/tickets/{number}/notes", "listTicketNotes", "The ticket's recent notes", "tickets", list_notes,
        scopes=READ, params=m.TicketNumber, response=m.NotePage, cacheable=True, errors=NOT_FOUND,
    ),
    Operation(
        "POST", "/tickets/{number}/notes", "addTicketNote", "Add an internal note or a public reply", "tickets",
        add_note, scopes=WRITE, params=m.TicketNumber, body=m.NoteCreate, response=m.Ticket, status=201,
        errors=(*NOT_FOUND, 422),
    ),
    Operation(
        "POST", "/tickets/{number}/escalations", "escalateTicket", "Escalate a ticket", "tickets", escalate,
        scopes=WRITE, params=m.TicketNumber, body=m.EscalationCreate, response=m.Ticket, status=201,
        errors=(*NOT_FOUND, 422),
    ),
    Operation(
        "GET", "/tickets/{number}/events", "listTicketEvents", "The ticket's event history", "tickets",
        list_events, scopes=READ, params=m.TicketNumber, response=m.EventPage, cacheable=True, errors=NOT_FOUND,
    ),
]  # fmt: skip


def build_api() -> Api:
    from psa_chatops.bot.api import security, signing  # security's presenters use this module's

    api = Api(
        VERSION,
        title="psa-chatops API",
        description="Tickets, customers, assets and SLAs of the embedded PSA. Errors are RFC 9457 problem+json."
        + signing.describe(),
    )
    from psa_chatops.bot.api import v2  # v2 is built from v1's declarations; v1 only asks which it replaces

    replaced = v2.replaced_in_v1()
    api.extend(replace(op, successor=v2.ROOT) if op.operation_id in replaced else op for op in OPERATIONS)
    api.extend(replace(op, successor=v2.ROOT) if op.operation_id in replaced else op for op in v1_resources.OPERATIONS)
    api.extend(security.OPERATIONS)
    api.extend(v1_appointments.OPERATIONS)
    return api
