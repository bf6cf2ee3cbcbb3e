"""API v2 (beta) response bodies: related records embedded as objects, SLA values as ISO 8601 durations.
Request bodies and parameters are v1's (v2 differs only in what it returns)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from psa_chatops.bot.api.v1_directory_models import Page
from psa_chatops.bot.api.v1_models import Event, Note, SlaState
from psa_chatops.core.priorities import Priority
from psa_chatops.core.sla import SlaTargetName
from psa_chatops.core.tickets_state import Status


class Ref(BaseModel):
    """A related record: its id and display name, so a client needs no second request to show it."""

    id: str
    name: str


class SlaClock(BaseModel):
    target: SlaTargetName
    state: SlaState
    due_at: datetime | None
    allowed: str = Field(description="business time the policy allows, ISO 8601 duration", examples=["PT4H"])
    used: str = Field(description="business time used so far, ISO 8601 duration", examples=["PT1H30M"])
    remaining: str = Field(description="business time left (PT0S once breached), ISO 8601 duration")
    percent: float


class Links(BaseModel):
    self: str
    notes: str
    events: str


class Ticket(BaseModel):
    number: int = Field(examples=[12345])
    title: str
    description: str
    status: Status
    priority: Priority
    source: str
    customer: Ref
    contact: Ref | None
    asset: Ref | None
    assignee: Ref | None
    tags: list[str]
    resolution: str | None
    escalation_level: int
    sla: list[SlaClock]
    recent_notes: list[Note]
    actions: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    links: Links = Field(alias="_links")


class TicketSummary(BaseModel):
    number: int
    title: str
    status: Status
    priority: Priority
    customer: Ref
    assignee: Ref | None
    next_due_at: datetime | None
    sla_state: str
    created_at: datetime | None
    updated_at: datetime | None


class TicketPage(BaseModel):
    items: list[TicketSummary]
    total: int
    next_cursor: str | None


class EventPage(BaseModel):
    items: list[Event]


class SlaTarget(BaseModel):
    first_response: str = Field(description="ISO 8601 duration of business time", examples=["PT1H"])
    resolution: str = Field(description="ISO 8601 duration of business time", examples=["PT8H"])


class SlaPolicyTargets(BaseModel):
    critical: SlaTarget
    high: SlaTarget
    medium: SlaTarget
    low: SlaTarget


class SlaPolicy(BaseModel):
    id: str = Field(examples=["standard"])
    name: str
    targets: SlaPolicyTargets = Field(description="business time per priority (calendar time if around the clock)")
    around_the_clock: list[Priority]


class SlaPolicyPage(Page):
    items: list[SlaPolicy]
