"""Views: what the cards, e-mails and API render. Channel-neutral, ready to show, no further look-ups needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SlaView:
    target: str
    due_at: datetime | None
    percent: float
    state: str  # ok | warning | breached | met | paused
    target_seconds: float = 0.0  # business seconds the policy allows
    elapsed_seconds: float = 0.0  # business seconds used so far (frozen once met)


@dataclass(frozen=True)
class NoteView:
    id: int
    body: str
    visibility: str
    author: str
    created_at: datetime


@dataclass(frozen=True)
class TicketView:
    number: int
    title: str
    description: str
    status: str
    priority: str
    source: str
    customer_id: str
    customer_name: str
    created_at: datetime
    updated_at: datetime
    version: int
    contact: str | None = None
    asset: str | None = None
    assignee_id: str | None = None
    assignee: str | None = None
    contact_id: str | None = None
    asset_id: str | None = None
    tags: tuple[str, ...] = ()
    resolution: str | None = None
    escalation_level: int = 0
    sla: tuple[SlaView, ...] = ()
    notes: tuple[NoteView, ...] = ()
    actions: tuple[str, ...] = ()

    @property
    def at_risk(self) -> bool:
        return any(s.state in ("warning", "breached") for s in self.sla)


@dataclass(frozen=True)
class TicketSummaryView:
    number: int
    title: str
    status: str
    priority: str
    customer_name: str
    assignee: str | None
    next_due_at: datetime | None
    sla_state: str
    customer_id: str = ""
    assignee_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class TicketListView:
    title: str
    tickets: tuple[TicketSummaryView, ...]
    total: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SlaSweepView:
    checked: int
    warnings: int
    breaches: int


@dataclass(frozen=True)
class ErrorView:
    kind: str
    template: str
    params: dict[str, Any] = field(default_factory=dict)
