"""The translated names of ticket states, priorities, SLA targets and sources, and what a technician may do in a
channel: the same words and rules in every channel (raw text; each channel escapes it its own way)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from psa_chatops.cards.texts import translator
from psa_chatops.core.errors import N_
from psa_chatops.core.priorities import PRIORITY_LABELS, Priority
from psa_chatops.core.tickets_state import STATUS_LABELS, Status
from psa_chatops.handlers.views import SlaView, TicketListView, TicketView

__all__ = [
    "SLA_STATE_LABELS",
    "SLA_TARGET_LABELS",
    "SOURCE_LABELS",
    "action_basis",
    "channel_actions",
    "list_title",
    "priority_label",
    "sla_target_label",
    "source_label",
    "status_label",
    "worst_sla",
]

SLA_TARGET_LABELS: Final[Mapping[str, str]] = {
    "first_response": N_("first response"),
    "resolution": N_("resolution"),
}
SLA_STATE_LABELS: Final[Mapping[str, str]] = {
    "warning": N_("at risk"),
    "breached": N_("breached"),
    "met": N_("met"),
    "paused": N_("paused"),
}
SOURCE_LABELS: Final[Mapping[str, str]] = {
    "slack": N_("Slack"),
    "teams": N_("Teams"),
    "email": N_("e-mail"),
    "api": N_("API"),
    "alert": N_("alert"),
    "sandbox": N_("sandbox"),
}


def status_label(status: str, locale: str) -> str:
    """The status in the reader's language (raw text; an unknown status shows as it is)."""
    try:
        return translator(locale).t(STATUS_LABELS[Status(status)])
    except ValueError:
        return status


def priority_label(priority: str, locale: str) -> str:
    try:
        return translator(locale).t(PRIORITY_LABELS[Priority(priority)])
    except ValueError:
        return priority


def sla_target_label(target: str, locale: str) -> str:
    return translator(locale).t(SLA_TARGET_LABELS[target]) if target in SLA_TARGET_LABELS else target


def source_label(source: str, locale: str) -> str:
    return translator(locale).t(SOURCE_LABELS[source]) if source in SOURCE_LABELS else source


def channel_actions(status: str) -> tuple[str, ...]:
    """What a technician may do with a ticket in this status (the cards in channels are for technicians)."""
    if status == Status.CLOSED.value:
        return ()
    allowed = ("add_note", "set_status", "close")
    done = status in (Status.RESOLVED.value, Status.CLOSED.value)
    return allowed if done else ("assign_to_me", *allowed, "escalate")


def action_basis(view: TicketView | Mapping[str, Any]) -> tuple[int, int, str, tuple[str, ...]]:
    """(number, version, status, allowed actions) of a full view or of an envelope's ticket summary."""
    if isinstance(view, TicketView):
        return view.number, view.version, view.status, view.actions
    status = str(view["status"])
    return int(view["number"]), int(view["version"]), status, channel_actions(status)


def worst_sla(slas: tuple[SlaView, ...]) -> SlaView | None:
    """The SLA a banner warns about: a breach before a warning, then the one furthest along."""
    risky = [s for s in slas if s.state in ("warning", "breached")]
    return max(risky, key=lambda s: (s.state == "breached", s.percent), default=None)


def list_title(view: TicketListView, locale: str) -> str:
    """The list's title (a msgid with ``view.params``) and its count, as raw text."""
    tr = translator(locale)
    return f"{tr.t(view.title, **view.params)} ({max(view.total, len(view.tickets))})"
