"""API v1 request and response bodies. The OpenAPI document is generated from these same models."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from psa_chatops.core.priorities import Priority
from psa_chatops.core.sla import SlaTargetName
from psa_chatops.core.tickets_state import Status, Visibility
from psa_chatops.handlers.ports import SORTS

TicketSort = Literal["-number", "number", "-updated_at", "updated_at", "-created_at", "created_at"]
if set(SORTS) != set(get_args(TicketSort)):  # keep the API's list in step with the repository's
    raise RuntimeError("TicketSort and handlers.ports.SORTS differ")


class Strict(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class TicketCreate(Strict):
    title: str = Field(min_length=1, max_length=200, examples=["Drucker im 2. OG druckt nicht"])
    customer_id: str = Field(min_length=1, max_length=64, examples=["CUST-789"])
    description: str = Field(default="", max_length=20_000)
    priority: Priority = Priority.MEDIUM
    contact_id: str | None = Field(default=None, max_length=64)
    asset_id: str | None = Field(default=None, max_length=64, examples=["WS-CLIENT-042"])
    assignee_id: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=20)


class TicketUpdate(Strict):
    """Only the fields you send change, in one transaction. Send ``If-Match`` with the ETag you read to make sure
    nobody changed the ticket in between (412 otherwise)."""

    status: Status | None = None
    priority: Priority | None = None
    assignee_id: str | None = Field(default=None, max_length=64)
    resolution: str | None = Field(default=None, max_length=20_000)


class NoteCreate(Strict):
    body: str = Field(min_length=1, max_length=20_000)
    visibility: Visibility = Field(
        default=Visibility.INTERNAL, description="internal (technicians only) or public (a reply the customer sees)"
    )


class EscalationCreate(Strict):
    reason: str = Field(min_length=1, max_length=2_000)
    raise_priority: bool = True
    notify_dispatchers: bool = True


class SlaState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"
    PAUSED = "paused"


class Sla(BaseModel):
    target: SlaTargetName
    due_at: datetime | None
    percent: float = Field(description="share of the target used so far, in business time")
    state: SlaState


class Note(BaseModel):
    id: int
    body: str
    visibility: Visibility
    author: str
    created_at: datetime


class Ticket(BaseModel):
    number: int = Field(examples=[12345])
    title: str
    description: str
    status: Status
    priority: Priority
    source: str
    customer_id: str
    customer_name: str
    contact_id: str | None
    contact: str | None
    asset_id: str | None
    asset: str | None
    assignee_id: str | None
    assignee: str | None
    tags: list[str]
    resolution: str | None
    escalation_level: int
    sla: list[Sla]
    recent_notes: list[Note]
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="increases with every change; the ETag carries it")
    actions: list[str] = Field(description="what the caller may do next")


class TicketSummary(BaseModel):
    number: int
    title: str
    status: Status
    priority: Priority
    customer_id: str
    customer_name: str
    assignee_id: str | None
    assignee: str | None
    next_due_at: datetime | None
    sla_state: str
    created_at: datetime | None
    updated_at: datetime | None


class TicketPage(BaseModel):
    items: list[TicketSummary]
    total: int = Field(description="tickets matching the filters (all pages)")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class NotePage(BaseModel):
    items: list[Note]


class Event(BaseModel):
    event_id: str
    type: str
    version: int
    occurred_at: datetime
    actor: str
    correlation_id: str
    causation_id: str | None
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[Event]


class TicketListParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[Status] | Status | None = None
    priority: list[Priority] | Priority | None = None
    customer_id: str | None = Field(default=None, max_length=64)
    assignee_id: str | None = Field(default=None, max_length=64)
    q: str | None = Field(default=None, min_length=1, max_length=200, description="text in title or description")
    open: bool = Field(default=False, description="only tickets that are not resolved or closed")
    sort: TicketSort = "-number"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512)


class TicketNumber(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, le=2**53)
