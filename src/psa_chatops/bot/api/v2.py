"""API v2 (beta): v1's operations with v2's response schemas. Same handlers, same parameters and bodies, same
scopes; each operation is v1's declaration with another presenter (``transform``) and response model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from psa_chatops.bot.api import directory, tickets, transform, v1, v1_resources
from psa_chatops.bot.api import v2_models as m2
from psa_chatops.bot.api.operations import Api, Call, Reply

VERSION = "v2"
ROOT = "/api/v2"


async def list_tickets(call: Call) -> Reply:
    return await v1.ticket_page(call, transform.summary, m2.TicketPage)


def _ticket(make: Callable[[Call], Any], status: int = 200) -> Callable[[Call], Any]:
    async def handler(call: Call) -> Reply:
        view = await make(call)
        return v1.ticket_reply(view, status=status, root=ROOT, data=transform.ticket(view, ROOT))

    return handler


async def _get(call: Call) -> Any:
    return await tickets.get(call, call.params.number)


async def _create(call: Call) -> Any:
    return await tickets.create(call, call.body)


async def _update(call: Call) -> Any:
    b = call.body
    return await tickets.update(
        call,
        call.params.number,
        status=b.status,
        priority=b.priority,
        assignee_id=b.assignee_id,
        resolution=b.resolution,
    )


async def _note(call: Call) -> Any:
    return await tickets.add_note(call, call.params.number, call.body)


async def _escalate(call: Call) -> Any:
    return await tickets.escalate(call, call.params.number, call.body)


CHANGES: dict[str, tuple[Callable[[Call], Any], type[BaseModel] | None]] = {
    "listSlaPolicies": (
        v1_resources.list_handler(directory.POLICIES, transform.sla_policy, m2.SlaPolicyPage),
        m2.SlaPolicyPage,
    ),
    "getSlaPolicy": (v1_resources.get_handler(directory.POLICIES, transform.sla_policy), m2.SlaPolicy),
    "listTickets": (list_tickets, m2.TicketPage),
    "createTicket": (_ticket(_create, 201), m2.Ticket),
    "getTicket": (_ticket(_get), m2.Ticket),
    "updateTicket": (_ticket(_update), m2.Ticket),
    "addTicketNote": (_ticket(_note, 201), m2.Ticket),
    "escalateTicket": (_ticket(_escalate, 201), m2.Ticket),
}
UNCHANGED = ("listTicketNotes", "listTicketEvents")


def build_api() -> Api:
    api = Api(
        VERSION,
        title="psa-chatops API",
        description="Beta. Like v1, but related records (customer, contact, asset, assignee) are embedded objects "
        "and SLA times are ISO 8601 durations. v1 stays supported for six months after v2 is final.",
        beta=True,
    )
    for op in [*v1.OPERATIONS, *v1_resources.OPERATIONS]:
        if op.operation_id in CHANGES:
            handler, response = CHANGES[op.operation_id]
            api.add(replace(op, handler=handler, response=response, successor=None))
        elif op.operation_id in UNCHANGED:
            api.add(replace(op, successor=None))
    return api


def replaced_in_v1() -> frozenset[str]:
    return frozenset(CHANGES)
